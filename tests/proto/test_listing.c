/*
 * Tests for version 2 directory listings (src/proto/manifest.c): the
 * record codec (every entry kind, targets, links and mtime nanoseconds),
 * the rules a lone record must obey, the streaming order check that keeps
 * only the previous path (depth first, sorted, parents open directories, so
 * a symbolic link can never be a parent), and version 2 manifests with
 * their caps.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proto/manifest.h"
#include "proto/shoal.pb-c.h"
#include "util/buf.h"
#include "util/error.h"

#define F(p)                                                                          \
	{                                                                             \
		.path = p, .kind = MANIFEST_FILE, .mode = 0644, .mtime = 7, .size = 3 \
	}
#define E(p)                                                   \
	{                                                      \
		.path = p, .kind = MANIFEST_FILE, .mode = 0600 \
	}
#define D(p)                                                                     \
	{                                                                        \
		.path = p, .kind = MANIFEST_DIRECTORY, .mode = 0755, .mtime = -5 \
	}
#define L(p, t)                                                                \
	{                                                                      \
		.path = p, .kind = MANIFEST_SYMLINK, .mode = 0777, .target = t \
	}
#define P(p)                                                   \
	{                                                      \
		.path = p, .kind = MANIFEST_FIFO, .mode = 0640 \
	}
#define H(p, to)                                                               \
	{                                                                      \
		.path = p, .kind = MANIFEST_HARDLINK, .mode = 0644, .link = to \
	}

static void assert_entry_equal(const struct dir_entry *a, const struct dir_entry *b)
{
	assert_string_equal(a->path, b->path);
	assert_int_equal(a->kind, b->kind);
	assert_int_equal(a->mode, b->mode);
	assert_true(a->mtime == b->mtime);
	assert_int_equal(a->mtime_ns, b->mtime_ns);
	assert_true(a->size == b->size);
	assert_true(a->ctime_ns == b->ctime_ns);
	assert_true(a->inode == b->inode);
	if (a->target)
		assert_string_equal(a->target, b->target);
	else
		assert_null(b->target);
	if (a->link)
		assert_string_equal(a->link, b->link);
	else
		assert_null(b->link);
}

static void test_record_round_trip(void **state)
{
	(void)state;
	static char long_target[MANIFEST_PATH_MAX + 1];
	memset(long_target, 'x', MANIFEST_PATH_MAX);
	struct dir_entry in[] = {
		F("a file"),
		D("dir"),
		L("dir/abs", "/etc/passwd"),
		L("dir/dangling", "no/such"),
		L("dir/long", long_target),
		L("dir/out", "../../../outside"),
		P("dir/pipe"),
		E("dir/z-empty"),
		H("z", "a file"),
	};
	/* Nanoseconds of mtime travel with every kind. */
	for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++)
		in[i].mtime_ns = (uint32_t)(i ? 100000000u * i + i : 999999999u);
	/* A file's ctime and inode too (an incremental put compares them). */
	in[0].ctime_ns = 1700000000123456789;
	in[0].inode = UINT64_MAX;
	size_t n = sizeof(in) / sizeof(in[0]);
	struct buf b = BUF_INIT;
	for (size_t i = 0; i < n; i++)
		assert_int_equal(manifest_record_encode(&in[i], &b), 0);
	size_t pos = 0;
	struct manifest_record_store *st = malloc(sizeof(*st));
	assert_non_null(st);
	struct manifest_listing_check c;
	manifest_listing_check_init(&c);
	for (size_t i = 0; i < n; i++) {
		struct dir_entry e;
		assert_int_equal(manifest_record_decode(b.data, b.len, &pos, &e, st), 0);
		assert_entry_equal(&in[i], &e);
		assert_int_equal(manifest_listing_check(&c, &e), 0);
	}
	assert_int_equal(pos, b.len);
	assert_int_equal(manifest_listing_check_end(&c, n, 3), 0);
	assert_int_equal(manifest_listing_check_end(&c, n + 1, 3), SHOAL_EPROTO);
	assert_int_equal(manifest_listing_check_end(&c, n, 4), SHOAL_EPROTO);
	free(st);
	buf_release(&b);
}

static void test_record_encode_rejects(void **state)
{
	(void)state;
	static char too_long[MANIFEST_PATH_MAX + 2];
	memset(too_long, 'x', MANIFEST_PATH_MAX + 1);
	struct dir_entry bad[] = {
		L("a", NULL),
		L("a", ""),
		L("a", too_long),
		H("a", NULL),
		H("a", "a"),
		H("a", "../a"),
		H("a", "/etc/passwd"),
		H("a", "b//c"),
		F("../a"),
		F("/a"),
		F("a/./b"),
		F(""),
		D("a/"),
		{.path = "d", .kind = MANIFEST_DIRECTORY, .size = 1},
		{.path = "l", .kind = MANIFEST_SYMLINK, .target = "x", .size = 1},
		{.path = "h", .kind = MANIFEST_HARDLINK, .link = "x", .size = 1},
		{.path = "p", .kind = MANIFEST_FIFO, .size = 1},
		{.path = "d", .kind = MANIFEST_DIRECTORY, .inode = 1},
		{.path = "d", .kind = MANIFEST_DIRECTORY, .ctime_ns = 1},
		{.path = "l", .kind = MANIFEST_SYMLINK, .target = "x", .inode = 1},
		{.path = "f", .kind = MANIFEST_FILE, .target = "x"},
		{.path = "f", .kind = MANIFEST_FILE, .link = "x"},
		{.path = "f", .kind = MANIFEST_FILE, .mode = 010000},
		{.path = "f", .kind = MANIFEST_FILE, .mtime_ns = MANIFEST_NS_MAX},
		{.path = "f", .kind = (enum manifest_kind)5},
		{.path = NULL, .kind = MANIFEST_FILE},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct buf b = BUF_INIT;
		if (manifest_record_encode(&bad[i], &b) != SHOAL_EPROTO)
			fail_msg("case %zu encoded", i);
		assert_int_equal(b.len, 0);
		buf_release(&b);
	}
}

/* Packs pb as a record (varint length + bytes) into b. */
static void pack_record(const Shoal__DirEntry *pb, struct buf *b)
{
	size_t len = shoal__dir_entry__get_packed_size(pb);
	for (size_t v = len;; v >>= 7) {
		uint8_t byte = (uint8_t)((v & 0x7f) | (v >> 7 ? 0x80 : 0));
		buf_add(b, &byte, 1);
		if (!(v >> 7))
			break;
	}
	buf_grow(b, len);
	shoal__dir_entry__pack(pb, b->data + b->len);
	buf_setlen(b, b->len + len);
}

static int decode_one(const uint8_t *p, size_t n)
{
	struct manifest_record_store *st = malloc(sizeof(*st));
	assert_non_null(st);
	struct dir_entry e;
	size_t pos = 0;
	int err = manifest_record_decode(p, n, &pos, &e, st);
	if (err)
		assert_int_equal(pos, 0);
	free(st);
	return err;
}

static int decode_pb(const Shoal__DirEntry *pb)
{
	struct buf b = BUF_INIT;
	pack_record(pb, &b);
	int err = decode_one(b.data, b.len);
	buf_release(&b);
	return err;
}

static void test_record_decode_rejects(void **state)
{
	(void)state;
	/* Framing: nothing, a zero length, a cut varint, a four-byte varint,
	 * a length past the end, a length over the cap. */
	assert_int_equal(decode_one((const uint8_t *)"", 0), SHOAL_EPROTO);
	assert_int_equal(decode_one((const uint8_t *)"\x00", 1), SHOAL_EPROTO);
	assert_int_equal(decode_one((const uint8_t *)"\x80", 1), SHOAL_EPROTO);
	assert_int_equal(decode_one((const uint8_t *)"\x81\x80\x80\x00", 4), SHOAL_EPROTO);
	assert_int_equal(decode_one((const uint8_t *)"\x05\x0a\x01", 3), SHOAL_EPROTO);
	assert_int_equal(decode_one((const uint8_t *)"\x81\x80\x01", 3), SHOAL_ETOOBIG);
	assert_int_equal(decode_one((const uint8_t *)"\x03\xff\xff\xff", 4), SHOAL_EPROTO);

	Shoal__DirEntry pb = SHOAL__DIR_ENTRY__INIT;
	pb.path = "ok";
	assert_int_equal(decode_pb(&pb), 0); /* the control */
	const char *paths[] = {"", "..", "../x", "/x", "a/../../x", "a//b", "a/", "\n"};
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		pb.path = (char *)paths[i];
		assert_int_equal(decode_pb(&pb), SHOAL_EPROTO);
	}
	pb.path = "ok";
	pb.kind = (Shoal__EntryKind)5;
	assert_int_equal(decode_pb(&pb), SHOAL_EPROTO);
	pb.kind = (Shoal__EntryKind)-1;
	assert_int_equal(decode_pb(&pb), SHOAL_EPROTO);
	/* Symbolic links: a target is needed, without NUL, of at most
	 * MANIFEST_PATH_MAX bytes; only links have one. */
	pb.kind = SHOAL__ENTRY_KIND__ENTRY_KIND_SYMLINK;
	assert_int_equal(decode_pb(&pb), SHOAL_EPROTO);
	static uint8_t target[MANIFEST_PATH_MAX + 1];
	memset(target, '.', sizeof(target));
	pb.target.data = target;
	pb.target.len = MANIFEST_PATH_MAX;
	assert_int_equal(decode_pb(&pb), 0);
	pb.target.len = MANIFEST_PATH_MAX + 1;
	assert_int_equal(decode_pb(&pb), SHOAL_EPROTO);
	pb.target.data = (uint8_t *)"a\0b";
	pb.target.len = 3;
	assert_int_equal(decode_pb(&pb), SHOAL_EPROTO);
	pb.target.len = 1;
	pb.kind = SHOAL__ENTRY_KIND__ENTRY_KIND_FILE;
	assert_int_equal(decode_pb(&pb), SHOAL_EPROTO);
	pb.target.len = 0;
	/* Hard links: a safe path, not the entry's own. */
	pb.kind = SHOAL__ENTRY_KIND__ENTRY_KIND_HARDLINK;
	assert_int_equal(decode_pb(&pb), SHOAL_EPROTO);
	pb.link = "first";
	assert_int_equal(decode_pb(&pb), 0);
	pb.link = "ok";
	assert_int_equal(decode_pb(&pb), SHOAL_EPROTO);
	pb.link = "../first";
	assert_int_equal(decode_pb(&pb), SHOAL_EPROTO);
	pb.size = 1;
	pb.link = "first";
	assert_int_equal(decode_pb(&pb), SHOAL_EPROTO);
	pb.size = 0;
	pb.kind = SHOAL__ENTRY_KIND__ENTRY_KIND_DIRECTORY;
	assert_int_equal(decode_pb(&pb), SHOAL_EPROTO);
	pb.link = NULL;
	pb.mode = 010000;
	assert_int_equal(decode_pb(&pb), SHOAL_EPROTO);
	/* Nanoseconds of mtime: 0 .. 999999999. */
	pb.mode = 0755;
	pb.mtime_ns = MANIFEST_NS_MAX - 1;
	assert_int_equal(decode_pb(&pb), 0);
	pb.mtime_ns = MANIFEST_NS_MAX;
	assert_int_equal(decode_pb(&pb), SHOAL_EPROTO);
}

/* Checks e[0..n) as one listing: the first error, or 0. */
static int check_listing(const struct dir_entry *e, size_t n)
{
	struct manifest_listing_check c;
	manifest_listing_check_init(&c);
	for (size_t i = 0; i < n; i++) {
		int err = manifest_listing_check(&c, &e[i]);
		if (err)
			return err;
	}
	return 0;
}

static void test_listing_order(void **state)
{
	(void)state;
	const struct dir_entry good[] = {
		D("a"),	  D("a/b"),   F("a/b/c"), E("a/b/d"),  D("a/b.x"),
		D("a/c"), F("a/c/x"), F("a.z"),	  L("b", "a"), F("c"),
	};
	assert_int_equal(check_listing(good, sizeof(good) / sizeof(good[0])), 0);
	const struct {
		const char *what;
		struct dir_entry e[4];
		size_t n;
	} bad[] = {
		{"a nested first entry", {F("a/x")}, 1},
		{"an orphan", {D("a"), F("b/x")}, 2},
		{"a child of a file", {F("f"), F("f/x")}, 2},
		{"a child of a symbolic link (an escape)", {L("a", "/etc"), F("a/passwd")}, 2},
		{"a child of a relative link", {D("d"), L("d/up", ".."), F("d/up/x")}, 3},
		{"a child of a FIFO", {P("p"), F("p/x")}, 2},
		{"a child of a hard link", {F("f"), H("h", "f"), F("h/x")}, 3},
		{"a duplicate", {F("a"), F("a")}, 2},
		{"a duplicate directory", {D("a"), F("a/x"), D("a")}, 3},
		{"siblings out of order", {F("b"), F("a")}, 2},
		{"back into a closed directory", {D("a"), F("a/x"), F("b"), F("a/y")}, 4},
		{"a deeper duplicate", {D("a"), F("a/x"), F("a/x")}, 3},
		{"children out of order", {D("a"), F("a/y"), F("a/x")}, 3},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (check_listing(bad[i].e, bad[i].n) != SHOAL_EPROTO)
			fail_msg("accepted %s", bad[i].what);
	}
	/* An absurd count stops at the cap. */
	struct manifest_listing_check c;
	manifest_listing_check_init(&c);
	c.count = MANIFEST_LISTED_MAX;
	const struct dir_entry one = F("z");
	assert_int_equal(manifest_listing_check(&c, &one), SHOAL_ETOOBIG);
	/* So does a size that would wrap. */
	manifest_listing_check_init(&c);
	struct dir_entry huge = F("a");
	huge.size = UINT64_MAX;
	assert_int_equal(manifest_listing_check(&c, &huge), 0);
	assert_int_equal(manifest_listing_check(&c, &(struct dir_entry)F("b")), SHOAL_EPROTO);
}

static struct chunk_ref ref_of(uint8_t seed, uint32_t size)
{
	struct chunk_ref r = {.size = size};
	memset(r.id, seed, sizeof(r.id));
	memset(r.key, seed ^ 0x5a, sizeof(r.key));
	return r;
}

static void test_manifest_v2(void **state)
{
	(void)state;
	struct chunk_ref data[2] = {ref_of(1, 100), ref_of(2, 50)};
	struct chunk_ref listing[3] = {ref_of(3, 1000), ref_of(4, 2000), ref_of(5, 10)};
	struct manifest m = {.version = MANIFEST_VERSION_LISTED,
			     .kind = MANIFEST_DIRECTORY,
			     .size = 150,
			     .mode = 0755,
			     .mtime = 1700000000,
			     .chunks = data,
			     .nchunks = 2,
			     .listing = listing,
			     .nlisting = 3,
			     .entry_count = 1000000};
	struct buf b = BUF_INIT;
	assert_int_equal(manifest_encode(&m, &b), 0);
	struct manifest d;
	assert_int_equal(manifest_decode(&d, b.data, b.len), 0);
	assert_int_equal(d.version, MANIFEST_VERSION_LISTED);
	assert_int_equal(d.nlisting, 3);
	assert_true(d.entry_count == 1000000);
	assert_memory_equal(d.listing[1].id, listing[1].id, CHUNK_ID_LEN);
	assert_int_equal(d.listing[2].size, 10);
	assert_int_equal(d.nentries, 0);
	manifest_release(&d);
	buf_release(&b);

	/* An empty tree: no listing chunk, no entry. */
	struct manifest empty = {.version = MANIFEST_VERSION_LISTED, .kind = MANIFEST_DIRECTORY};
	assert_int_equal(manifest_encode(&empty, &b), 0);
	assert_int_equal(manifest_decode(&d, b.data, b.len), 0);
	manifest_release(&d);
	buf_release(&b);

	/* What the encoder refuses, the decoder would too. */
	struct manifest bad = m;
	bad.kind = MANIFEST_FILE;
	assert_int_equal(manifest_encode(&bad, &b), SHOAL_EPROTO);
	bad = m;
	bad.entry_count = 2; /* fewer entries than listing chunks */
	assert_int_equal(manifest_encode(&bad, &b), SHOAL_EPROTO);
	bad = m;
	bad.entry_count = 0;
	assert_int_equal(manifest_encode(&bad, &b), SHOAL_EPROTO);
	bad = m;
	bad.entry_count = MANIFEST_LISTED_MAX + 1;
	assert_int_equal(manifest_encode(&bad, &b), SHOAL_ETOOBIG);
	bad = m;
	bad.nlisting = 0;
	assert_int_equal(manifest_encode(&bad, &b), SHOAL_EPROTO);
	bad = m;
	bad.version = MANIFEST_VERSION; /* version 1 has no listing */
	assert_int_equal(manifest_encode(&bad, &b), SHOAL_EPROTO);
	struct dir_entry inline_entry = E("x");
	bad = m;
	bad.entries = &inline_entry;
	bad.nentries = 1;
	assert_int_equal(manifest_encode(&bad, &b), SHOAL_EPROTO);
	assert_int_equal(b.len, 0);

	/* Crafted: inline entries in version 2, a listing in version 1, absurd
	 * counts and too many listing chunks. */
	Shoal__ChunkRef lref = SHOAL__CHUNK_REF__INIT, *lptr = &lref;
	lref.id.data = listing[0].id;
	lref.id.len = CHUNK_ID_LEN;
	lref.key.data = listing[0].key;
	lref.key.len = CHUNK_KEY_LEN;
	lref.size = 100;
	Shoal__DirEntry pe = SHOAL__DIR_ENTRY__INIT, *pep = &pe;
	pe.path = "x";
	Shoal__Manifest pb = SHOAL__MANIFEST__INIT;
	pb.version = MANIFEST_VERSION_LISTED;
	pb.kind = SHOAL__ENTRY_KIND__ENTRY_KIND_DIRECTORY;
	pb.n_listing = 1;
	pb.listing = &lptr;
	pb.entry_count = 1;
	const struct {
		const char *what;
		int err;
		uint32_t version;
		size_t n_entries;
		uint64_t entry_count;
		int kind;
	} cases[] = {
		{"the control", 0, 2, 0, 1, 1},
		{"inline entries in version 2", SHOAL_EPROTO, 2, 1, 1, 1},
		{"a listing in version 1", SHOAL_EPROTO, 1, 0, 1, 1},
		{"a version 2 file", SHOAL_EPROTO, 2, 0, 1, 0},
		{"an absurd count", SHOAL_ETOOBIG, 2, 0, UINT64_MAX, 1},
		{"no count", SHOAL_EPROTO, 2, 0, 0, 1},
		{"version 3", SHOAL_EVERSION, 3, 0, 1, 1},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		pb.version = cases[i].version;
		pb.n_entries = cases[i].n_entries;
		pb.entries = cases[i].n_entries ? &pep : NULL;
		pb.entry_count = cases[i].entry_count;
		pb.kind = (Shoal__EntryKind)cases[i].kind;
		size_t len = shoal__manifest__get_packed_size(&pb);
		uint8_t *p = malloc(len);
		assert_non_null(p);
		shoal__manifest__pack(&pb, p);
		int err = manifest_decode(&d, p, len);
		free(p);
		if (err != cases[i].err)
			fail_msg("%s: %d, want %d", cases[i].what, err, cases[i].err);
		manifest_release(&d);
	}
	/* More listing chunks than MANIFEST_LISTS_MAX. */
	size_t many = MANIFEST_LISTS_MAX + 1;
	Shoal__ChunkRef **ptrs = malloc(many * sizeof(*ptrs));
	assert_non_null(ptrs);
	for (size_t i = 0; i < many; i++)
		ptrs[i] = &lref;
	pb.version = MANIFEST_VERSION_LISTED;
	pb.n_entries = 0;
	pb.entries = NULL;
	pb.kind = SHOAL__ENTRY_KIND__ENTRY_KIND_DIRECTORY;
	pb.n_listing = many;
	pb.listing = ptrs;
	pb.entry_count = many;
	size_t len = shoal__manifest__get_packed_size(&pb);
	uint8_t *p = malloc(len);
	assert_non_null(p);
	shoal__manifest__pack(&pb, p);
	assert_int_equal(manifest_decode(&d, p, len), SHOAL_ETOOBIG);
	free(p);
	free(ptrs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_record_round_trip),
		cmocka_unit_test(test_record_encode_rejects),
		cmocka_unit_test(test_record_decode_rejects),
		cmocka_unit_test(test_listing_order),
		cmocka_unit_test(test_manifest_v2),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
