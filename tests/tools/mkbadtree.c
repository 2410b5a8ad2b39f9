/*
 * mkbadtree: writes hostile directory manifests, for the tests that check a
 * get refuses them. A manifest is packed with protobuf-c directly, bypassing
 * manifest_encode()'s checks, so it can name "../x", "/x" or "a/../../x";
 * otherwise it is made like a real one: its data (the 5 bytes "hello", the
 * contents of its one non-empty file) is a sealed chunk, the manifest is
 * sealed and stored, both are recorded in the index and the name "bad-KIND"
 * is bound to it, exactly as a put would leave them.
 *
 *   mkbadtree HOME KIND     stores the KIND manifest in HOME's store (offline:
 *                           no daemon may hold it) and prints its capability;
 *                           $MKBADTREE_ABSOLUTE, when set, replaces "/tmp" as
 *                           the target of the absolute escaping link
 *   mkbadtree --corpus DIR  writes every KIND's plaintext manifest to
 *                           DIR/bad-dir-manifest-KIND (DIR/valid-dir-manifest
 *                           for "valid"), as seeds for fuzz/corpus/manifest
 *
 * KIND "valid" is a correct tree (a/, a/x), so the tests can tell that only
 * the paths make the others fail. The kinds named "v2-..." are version 2
 * manifests whose entries (symbolic links and hard links among them) are
 * records in a listing chunk, stored like the data; "v2-valid" is their
 * control. With --corpus their listing chunks go to DIR/bad-listing-KIND
 * (DIR/valid-listing-v2-valid for the control).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "crypto/seal.h"
#include "proto/capability.h"
#include "proto/manifest.h"
#include "proto/shoal.pb-c.h"
#include "store/store.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/fsutil.h"

static const char data[] = "hello";
#define DATA_LEN 5

struct entry {
	const char *path;
	int kind; /* a Shoal__EntryKind: 0 file, 1 directory, 2 link, 4 hard link */
	uint64_t size;
	const char *target; /* a link's */
	const char *link;   /* a hard link's */
};

struct kind {
	const char *name;
	struct entry entries[4];
	int listed; /* version 2: the entries in a listing chunk */
};

/* Each has one file of DATA_LEN bytes, so its data is one chunk; "valid"
 * comes first. */
static const struct kind kinds[] = {
	{"valid", {{"a", 1, 0}, {"a/x", 0, DATA_LEN}}},
	{"dotdot", {{"../x", 0, DATA_LEN}}},
	{"absolute", {{"/x", 0, DATA_LEN}}},
	{"inner-dotdot", {{"a", 1, 0}, {"a/../../x", 0, DATA_LEN}}},
	{"dotdot-dir", {{"..", 1, 0}, {"../x", 0, DATA_LEN}}},
	{"dot", {{"a", 1, 0}, {"a/./x", 0, DATA_LEN}}},
	{"empty-component", {{"a", 1, 0}, {"a//x", 0, DATA_LEN}}},
	{"trailing-slash", {{"a", 1, 0}, {"a/x/", 0, DATA_LEN}}},
	{"control-char", {{"a", 1, 0}, {"a/\n", 0, DATA_LEN}}},
	{"duplicate", {{"a", 1, 0}, {"a/x", 0, DATA_LEN}, {"a/x", 0, 0}}},
	{"orphan", {{"nodir/x", 0, DATA_LEN}}},
	{"late-parent", {{"a/x", 0, DATA_LEN}, {"a", 1, 0}}},
	{"file-parent", {{"f", 0, DATA_LEN}, {"f/x", 0, 0}}},
	{"size-mismatch", {{"a", 1, 0}, {"a/x", 0, DATA_LEN + 1}}},
	{"v2-valid", {{"a", 1, 0}, {"a/l", 2, 0, "../../x"}, {"a/x", 0, DATA_LEN}}, 1},
	/* A link, then an entry through it. */
	{"v2-link-escape", {{"a", 2, 0, ".."}, {"a/x", 0, DATA_LEN}}, 1},
	{"v2-link-escape-absolute", {{"a", 2, 0, "/tmp"}, {"a/x", 0, DATA_LEN}}, 1},
	{"v2-link-escape-nested",
	 {{"d", 1, 0}, {"d/up", 2, 0, "../.."}, {"d/up/x", 0, DATA_LEN}},
	 1},
	/* A hard link to a link (to a file outside), and to nothing. */
	{"v2-hardlink-to-link",
	 {{"a", 2, 0, "/etc/passwd"}, {"h", 4, 0, NULL, "a"}, {"z", 0, DATA_LEN}},
	 1},
	{"v2-hardlink-dangling", {{"h", 4, 0, NULL, "nowhere"}, {"z", 0, DATA_LEN}}, 1},
	{"v2-hardlink-dotdot", {{"h", 4, 0, NULL, "../x"}, {"z", 0, DATA_LEN}}, 1},
	{"v2-duplicate", {{"a", 2, 0, "x"}, {"a", 0, DATA_LEN}}, 1},
};
#define NKINDS (sizeof(kinds) / sizeof(kinds[0]))

static int fail(const char *what, int err)
{
	fprintf(stderr, "mkbadtree: %s: %s\n", what, shoal_strerror(err));
	return 1;
}

static size_t fill_entries(const struct kind *k, Shoal__DirEntry pe[4], Shoal__DirEntry *pes[4])
{
	size_t n = 0;
	for (; n < 4 && k->entries[n].path; n++) {
		const struct entry *e = &k->entries[n];
		shoal__dir_entry__init(&pe[n]);
		pe[n].path = (char *)e->path;
		pe[n].kind = (Shoal__EntryKind)e->kind;
		pe[n].mode = e->kind == 1 ? 0755 : 0644;
		pe[n].mtime = 1700000000;
		pe[n].size = e->size;
		if (e->target) {
			const char *t = e->target;
			/* The absolute escape points where the test can look. */
			if (!strcmp(t, "/tmp") && getenv("MKBADTREE_ABSOLUTE"))
				t = getenv("MKBADTREE_ABSOLUTE");
			pe[n].target.data = (uint8_t *)t;
			pe[n].target.len = strlen(t);
		}
		pe[n].link = (char *)e->link;
		pes[n] = &pe[n];
	}
	return n;
}

/* Packs a listed kind's entries as a listing chunk into out. */
static void pack_listing(const struct kind *k, struct buf *out)
{
	Shoal__DirEntry pe[4], *pes[4];
	size_t n = fill_entries(k, pe, pes);
	for (size_t i = 0; i < n; i++) {
		size_t len = shoal__dir_entry__get_packed_size(pes[i]);
		uint8_t head[10];
		size_t nhead = 0;
		for (size_t v = len; nhead == 0 || v; v >>= 7)
			head[nhead++] = (uint8_t)((v & 0x7f) | (v >> 7 ? 0x80 : 0));
		buf_add(out, head, nhead);
		buf_grow(out, len);
		shoal__dir_entry__pack(pes[i], out->data + out->len);
		buf_setlen(out, out->len + len);
	}
}

static Shoal__ChunkRef ref_to_pb(const struct chunk_ref *ref)
{
	Shoal__ChunkRef pref = SHOAL__CHUNK_REF__INIT;
	pref.id.data = (uint8_t *)ref->id;
	pref.id.len = CHUNK_ID_LEN;
	pref.key.data = (uint8_t *)ref->key;
	pref.key.len = CHUNK_KEY_LEN;
	pref.size = ref->size;
	return pref;
}

/* Packs kind k's manifest, its data chunk ref being ref (and its listing
 * chunk's listing, for a listed kind), into out. */
static void pack(const struct kind *k, const struct chunk_ref *ref, const struct chunk_ref *listing,
		 struct buf *out)
{
	Shoal__ChunkRef pref = ref_to_pb(ref), *prefs[1] = {&pref};
	Shoal__ChunkRef lref, *lrefs[1] = {&lref};
	Shoal__DirEntry pe[4], *pes[4];
	size_t n = fill_entries(k, pe, pes);
	Shoal__Manifest m = SHOAL__MANIFEST__INIT;
	m.version = MANIFEST_VERSION;
	m.kind = SHOAL__ENTRY_KIND__ENTRY_KIND_DIRECTORY;
	m.size = DATA_LEN;
	m.mode = 0755;
	m.mtime = 1700000000;
	m.n_chunks = 1;
	m.chunks = prefs;
	if (k->listed) {
		lref = ref_to_pb(listing);
		m.version = MANIFEST_VERSION_LISTED;
		m.n_listing = 1;
		m.listing = lrefs;
		m.entry_count = n;
	} else {
		m.n_entries = n;
		m.entries = pes;
	}
	size_t len = shoal__manifest__get_packed_size(&m);
	buf_grow(out, len);
	shoal__manifest__pack(&m, out->data + out->len);
	buf_setlen(out, out->len + len);
}

/* Seals plain[0..n) under s's secret, stores and records it; fills ref. */
static int put_chunk(struct store *s, const uint8_t *plain, size_t n, struct chunk_ref *ref)
{
	uint8_t *sealed = malloc(n + CHUNK_TAG_LEN);
	if (!sealed)
		return -ENOMEM;
	seal_key(s->secret, plain, n, ref->key);
	ref->size = (uint32_t)n;
	int err = seal_encrypt(ref->key, plain, n, sealed, ref->id);
	if (!err)
		err = objects_write(&s->objects, ref->id, sealed, n + CHUNK_TAG_LEN, 0, NULL);
	if (!err)
		err = index_chunk_add(s->index, ref->id, n + CHUNK_TAG_LEN);
	free(sealed);
	return err;
}

static int store_kind(const char *home, const struct kind *k)
{
	struct store *s;
	int err = store_open(&s, home, STORE_NOWAIT);
	if (err)
		return fail("cannot open the store", err);
	struct chunk_ref data_ref, listing_ref = {0}, manifest_ref;
	struct buf plain = BUF_INIT;
	err = index_begin(s->index);
	if (!err)
		err = put_chunk(s, (const uint8_t *)data, DATA_LEN, &data_ref);
	if (!err && k->listed) {
		pack_listing(k, &plain);
		err = put_chunk(s, plain.data, plain.len, &listing_ref);
		buf_setlen(&plain, 0);
	}
	if (!err) {
		pack(k, &data_ref, &listing_ref, &plain);
		err = put_chunk(s, plain.data, plain.len, &manifest_ref);
	}
	struct capability cap;
	memcpy(cap.id, manifest_ref.id, CHUNK_ID_LEN);
	memcpy(cap.key, manifest_ref.key, CHUNK_KEY_LEN);
	struct index_name n = {.size = DATA_LEN, .created = (int64_t)time(NULL)};
	snprintf(n.name, sizeof(n.name), "bad-%s", k->name);
	capability_format(&cap, n.cap);
	memcpy(n.manifest, cap.id, CHUNK_ID_LEN);
	if (!err)
		err = index_ref_add(s->index, cap.id, cap.id);
	if (!err)
		err = index_ref_add(s->index, cap.id, data_ref.id);
	if (!err && k->listed)
		err = index_ref_add(s->index, cap.id, listing_ref.id);
	if (!err)
		err = index_name_set(s->index, &n, NULL, NULL);
	if (!err)
		err = objects_sync(&s->objects);
	if (!err)
		err = index_commit(s->index);
	else
		index_rollback(s->index);
	buf_release(&plain);
	store_close(s);
	if (err)
		return fail("cannot store the manifest", err);
	printf("%s\n", n.cap);
	return 0;
}

static int write_corpus(const char *dir)
{
	struct chunk_ref ref = {.size = DATA_LEN};
	memset(ref.id, 0x11, sizeof(ref.id));
	memset(ref.key, 0x22, sizeof(ref.key));
	for (size_t i = 0; i < NKINDS; i++) {
		struct buf plain = BUF_INIT;
		char path[4096];
		if (kinds[i].listed)
			pack_listing(&kinds[i], &plain);
		else
			pack(&kinds[i], &ref, NULL, &plain);
		if (kinds[i].listed)
			snprintf(path, sizeof(path), "%s/%s-listing-%s", dir,
				 strstr(kinds[i].name, "valid") ? "valid" : "bad", kinds[i].name);
		else if (i == 0)
			snprintf(path, sizeof(path), "%s/valid-dir-manifest", dir);
		else
			snprintf(path, sizeof(path), "%s/bad-dir-manifest-%s", dir, kinds[i].name);
		int err = write_file_atomic(path, plain.data, plain.len, 0644);
		buf_release(&plain);
		if (err)
			return fail(path, err);
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "--corpus"))
		return write_corpus(argv[2]);
	for (size_t i = 0; argc == 3 && i < NKINDS; i++) {
		if (!strcmp(argv[2], kinds[i].name))
			return store_kind(argv[1], &kinds[i]);
	}
	fprintf(stderr, "usage: mkbadtree HOME KIND | mkbadtree --corpus DIR\nkinds:");
	for (size_t i = 0; i < NKINDS; i++)
		fprintf(stderr, " %s", kinds[i].name);
	fprintf(stderr, "\n");
	return 2;
}
