/*
 * Tests for src/proto/manifest.c: Manifest and ChunkList codecs. Valid
 * manifests (inline refs, ChunkList refs, empty files, the limits themselves)
 * must round-trip field for field. Invalid ones are crafted by packing
 * Shoal__Manifest messages by hand with protobuf-c, so each rule of
 * manifest_decode() is broken alone and must give its documented error with
 * the output zeroed: versions, hash, kind, id and key lengths, chunk sizes,
 * chunks and lists together, sizes that do not add up, mode, ref counts, input
 * length, mtime nanoseconds (a manifest without them decodes with 0).
 * Truncations, random bytes and random mutations must never yield a
 * manifest that breaks the rules. Directory manifests: trees round-trip entry
 * for entry; every listing rule (unsafe or malformed paths, duplicates,
 * parents missing or late, sizes, modes, kinds, limits) is refused by the
 * encoder and, crafted by hand, by the decoder; a listing too big for one
 * chunk or the decode budget is refused early and never half-decoded.
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

#include "proto/manifest.h"
#include "proto/shoal.pb-c.h"
#include "util/buf.h"
#include "util/error.h"

static uint32_t rng_state = 12345;

static uint32_t rng(void)
{
	uint32_t x = rng_state;
	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	rng_state = x;
	return x;
}

/* Returns n refs with distinct ids and keys and sizes 1000 + 7 * i. */
static struct chunk_ref *make_refs(size_t n, uint8_t seed)
{
	struct chunk_ref *refs = calloc(n ? n : 1, sizeof(*refs));
	assert_non_null(refs);
	for (size_t i = 0; i < n; i++) {
		for (size_t j = 0; j < CHUNK_ID_LEN; j++)
			refs[i].id[j] = (uint8_t)(seed + i + j * 3 + (i >> 8));
		for (size_t j = 0; j < CHUNK_KEY_LEN; j++)
			refs[i].key[j] = (uint8_t)(seed * 7 + i * 5 + j + (i >> 8));
		refs[i].size = (uint32_t)(1000 + 7 * i);
	}
	return refs;
}

static uint64_t sum_sizes(const struct chunk_ref *refs, size_t n)
{
	uint64_t sum = 0;
	for (size_t i = 0; i < n; i++)
		sum += refs[i].size;
	return sum;
}

/* Asserts that m is all zero bytes, as the decoder leaves it on failure. */
static void assert_zeroed(const struct manifest *m)
{
	struct manifest zero;
	memset(&zero, 0, sizeof(zero));
	assert_memory_equal(m, &zero, sizeof(zero));
}

static void assert_refs_equal(const struct chunk_ref *a, const struct chunk_ref *b, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		assert_memory_equal(a[i].id, b[i].id, CHUNK_ID_LEN);
		assert_memory_equal(a[i].key, b[i].key, CHUNK_KEY_LEN);
		assert_int_equal(a[i].size, b[i].size);
	}
}

static void assert_manifests_equal(const struct manifest *a, const struct manifest *b)
{
	assert_int_equal(a->kind, b->kind);
	assert_true(a->size == b->size);
	assert_int_equal(a->mode, b->mode);
	assert_true(a->mtime == b->mtime);
	assert_int_equal(a->mtime_ns, b->mtime_ns);
	assert_int_equal(a->nchunks, b->nchunks);
	assert_int_equal(a->nlists, b->nlists);
	assert_refs_equal(a->chunks, b->chunks, a->nchunks);
	assert_refs_equal(a->lists, b->lists, a->nlists);
	if (a->nchunks == 0)
		assert_null(b->chunks);
	if (a->nlists == 0)
		assert_null(b->lists);
	assert_int_equal(a->nentries, b->nentries);
	for (size_t i = 0; i < a->nentries; i++) {
		assert_string_equal(a->entries[i].path, b->entries[i].path);
		assert_int_equal(a->entries[i].kind, b->entries[i].kind);
		assert_int_equal(a->entries[i].mode, b->entries[i].mode);
		assert_true(a->entries[i].mtime == b->entries[i].mtime);
		assert_int_equal(a->entries[i].mtime_ns, b->entries[i].mtime_ns);
		assert_true(a->entries[i].size == b->entries[i].size);
	}
	if (a->nentries == 0)
		assert_null(b->entries);
}

/* Decodes p[0..n) into m, first filled with junk; on failure checks that m
 * was zeroed. Returns the decoder's result; the caller releases m. */
static int decode(const uint8_t *p, size_t n, struct manifest *m)
{
	memset(m, 0x5a, sizeof(*m));
	int err = manifest_decode(m, p, n);
	if (err)
		assert_zeroed(m);
	return err;
}

/* Checks the listing rules of manifest.h on a decoded directory, naively. */
static void assert_valid_entries(const struct manifest *m)
{
	uint64_t sum = 0;
	for (size_t i = 0; i < m->nentries; i++) {
		const struct dir_entry *e = &m->entries[i];
		assert_true(e->kind == MANIFEST_FILE || e->kind == MANIFEST_DIRECTORY);
		assert_true(e->mode <= 07777);
		if (e->kind == MANIFEST_DIRECTORY)
			assert_true(e->size == 0);
		sum += e->size;
		assert_true(e->path[0] && e->path[0] != '/');
		assert_null(strstr(e->path, "//"));
		assert_true(e->path[strlen(e->path) - 1] != '/');
		assert_true(strcmp(e->path, "..") && strncmp(e->path, "../", 3));
		assert_null(strstr(e->path, "/../"));
		const char *slash = strrchr(e->path, '/');
		if (slash) {
			size_t len = (size_t)(slash - e->path);
			size_t j = 0;
			while (j < i && !(strlen(m->entries[j].path) == len &&
					  !memcmp(m->entries[j].path, e->path, len)))
				j++;
			assert_true(j < i);
			assert_int_equal(m->entries[j].kind, MANIFEST_DIRECTORY);
		}
	}
	assert_true(sum == m->size);
}

/* Checks every rule of manifest.h on a manifest the decoder accepted. */
static void assert_valid(const struct manifest *m)
{
	assert_true(m->kind == MANIFEST_FILE || m->kind == MANIFEST_DIRECTORY);
	if (m->kind == MANIFEST_FILE)
		assert_int_equal(m->nentries, 0);
	else
		assert_valid_entries(m);
	assert_true(m->mode <= 07777);
	assert_false(m->nchunks && m->nlists);
	assert_true(m->nchunks <= MANIFEST_INLINE_MAX);
	assert_true(m->nlists <= MANIFEST_LISTS_MAX);
	for (size_t i = 0; i < m->nchunks; i++)
		assert_in_range(m->chunks[i].size, 1, CHUNK_SIZE_MAX);
	for (size_t i = 0; i < m->nlists; i++)
		assert_in_range(m->lists[i].size, 1, CHUNK_SIZE_MAX);
	if (m->nlists)
		assert_true(m->size > 0);
	else
		assert_true(sum_sizes(m->chunks, m->nchunks) == m->size);
	/* And it can be written back out. */
	struct buf b = BUF_INIT;
	assert_int_equal(manifest_encode(m, &b), 0);
	buf_release(&b);
}

/* A hand-built Shoal__Manifest: valid until a test breaks one field. Every
 * ref borrows the same 40-byte id and key buffers, so lengths up to 40 can be
 * set freely. */
struct crafted {
	Shoal__Manifest pb;
	Shoal__ChunkRef *chunks, *lists;
	Shoal__ChunkRef **chunk_ptrs, **list_ptrs;
	uint8_t id[40], key[40];
};

static void craft_refs(struct crafted *c, size_t n, Shoal__ChunkRef **refs, Shoal__ChunkRef ***ptrs)
{
	*refs = calloc(n ? n : 1, sizeof(**refs));
	*ptrs = calloc(n ? n : 1, sizeof(**ptrs));
	assert_non_null(*refs);
	assert_non_null(*ptrs);
	for (size_t i = 0; i < n; i++) {
		Shoal__ChunkRef *r = &(*refs)[i];
		shoal__chunk_ref__init(r);
		r->id.data = c->id;
		r->id.len = CHUNK_ID_LEN;
		r->key.data = c->key;
		r->key.len = CHUNK_KEY_LEN;
		r->size = (uint32_t)(100 + i);
		(*ptrs)[i] = r;
	}
}

/* nchunks inline refs (size = their sum) or nlists list refs (size 1 GiB). */
static void crafted_init(struct crafted *c, size_t nchunks, size_t nlists)
{
	memset(c, 0, sizeof(*c));
	shoal__manifest__init(&c->pb);
	for (size_t i = 0; i < sizeof(c->id); i++) {
		c->id[i] = (uint8_t)(0xc0 + i);
		c->key[i] = (uint8_t)(0x30 + i);
	}
	c->pb.version = MANIFEST_VERSION;
	c->pb.hash = SHOAL__HASH_ALG__HASH_ALG_SHA256;
	c->pb.kind = SHOAL__ENTRY_KIND__ENTRY_KIND_FILE;
	c->pb.mode = 0640;
	c->pb.mtime = 1700000000;
	craft_refs(c, nchunks, &c->chunks, &c->chunk_ptrs);
	craft_refs(c, nlists, &c->lists, &c->list_ptrs);
	c->pb.n_chunks = nchunks;
	c->pb.chunks = nchunks ? c->chunk_ptrs : NULL;
	c->pb.n_lists = nlists;
	c->pb.lists = nlists ? c->list_ptrs : NULL;
	c->pb.size = 0;
	for (size_t i = 0; i < nchunks; i++)
		c->pb.size += c->chunks[i].size;
	if (nlists)
		c->pb.size = (uint64_t)1 << 30;
}

static void crafted_release(struct crafted *c)
{
	free(c->chunks);
	free(c->lists);
	free(c->chunk_ptrs);
	free(c->list_ptrs);
}

static void crafted_pack(const struct crafted *c, struct buf *out)
{
	size_t len = shoal__manifest__get_packed_size(&c->pb);
	buf_reset(out);
	buf_grow(out, len);
	assert_int_equal(shoal__manifest__pack(&c->pb, out->data), len);
	buf_setlen(out, len);
}

/* Packs c and returns what manifest_decode() makes of it. */
static int crafted_decode(const struct crafted *c)
{
	struct buf b = BUF_INIT;
	struct manifest m;
	crafted_pack(c, &b);
	int err = decode(b.data, b.len, &m);
	if (!err)
		assert_valid(&m);
	manifest_release(&m);
	buf_release(&b);
	return err;
}

static void round_trip(const struct manifest *m)
{
	struct buf b = BUF_INIT;
	struct manifest back;

	buf_addstr(&b, "head");
	assert_int_equal(manifest_encode(m, &b), 0);
	assert_memory_equal(b.data, "head", 4);
	assert_true(b.len - 4 <= CHUNK_SIZE_MAX);
	assert_int_equal(decode(b.data + 4, b.len - 4, &back), 0);
	assert_manifests_equal(m, &back);
	manifest_release(&back);
	buf_release(&b);
}

static void test_round_trip_inline(void **state)
{
	(void)state;
	const int64_t mtimes[] = {0, 1700000000, -1, INT64_MIN, INT64_MAX};
	const uint32_t modes[] = {0, 0644, 0755, 07777};

	for (size_t n = 1; n <= 3; n++) {
		struct manifest m = {.kind = MANIFEST_FILE};
		m.chunks = make_refs(n, (uint8_t)n);
		m.nchunks = n;
		m.size = sum_sizes(m.chunks, n);
		for (size_t i = 0; i < sizeof(mtimes) / sizeof(mtimes[0]); i++) {
			m.mtime = mtimes[i];
			m.mode = modes[i % 4];
			round_trip(&m);
		}
		free(m.chunks);
	}

	/* A chunk of the largest size. */
	struct manifest m = {.kind = MANIFEST_FILE, .mode = 0600};
	m.chunks = make_refs(2, 9);
	m.chunks[1].size = (uint32_t)CHUNK_SIZE_MAX;
	m.nchunks = 2;
	m.size = sum_sizes(m.chunks, 2);
	round_trip(&m);
	free(m.chunks);
}

static void test_round_trip_empty_file(void **state)
{
	(void)state;
	struct manifest m = {.kind = MANIFEST_FILE, .size = 0, .mode = 0644, .mtime = 12345};
	round_trip(&m);
}

static void test_round_trip_lists(void **state)
{
	(void)state;
	struct manifest m = {.kind = MANIFEST_FILE, .mode = 0600, .mtime = 99};
	m.lists = make_refs(3, 42);
	m.nlists = 3;
	m.size = (uint64_t)40 << 30; /* not derivable from the list sizes */
	round_trip(&m);
	m.size = UINT64_MAX;
	round_trip(&m);
	free(m.lists);
}

static void test_round_trip_at_limits(void **state)
{
	(void)state;
	struct manifest m = {.kind = MANIFEST_FILE, .mode = 07777, .mtime = -5};
	m.chunks = make_refs(MANIFEST_INLINE_MAX, 1);
	m.nchunks = MANIFEST_INLINE_MAX;
	m.size = sum_sizes(m.chunks, m.nchunks);
	round_trip(&m);
	free(m.chunks);

	struct manifest l = {.kind = MANIFEST_FILE, .size = 1};
	l.lists = make_refs(MANIFEST_LISTS_MAX, 2);
	l.nlists = MANIFEST_LISTS_MAX;
	round_trip(&l);
	free(l.lists);
}

static void test_encode_rejects_invalid(void **state)
{
	(void)state;
	struct buf b = BUF_INIT;
	struct chunk_ref *refs = make_refs(MANIFEST_INLINE_MAX + 1, 3);
	struct manifest good = {.kind = MANIFEST_FILE, .mode = 0644, .chunks = refs, .nchunks = 3};
	good.size = sum_sizes(refs, 3);
	struct manifest m;

	buf_addstr(&b, "keep");
	m = good, m.size++;
	assert_int_not_equal(manifest_encode(&m, &b), 0);
	m = good, m.size--;
	assert_int_not_equal(manifest_encode(&m, &b), 0);
	m = good, m.mode = 010000;
	assert_int_not_equal(manifest_encode(&m, &b), 0);
	m = good, m.lists = refs, m.nlists = 1;
	assert_int_not_equal(manifest_encode(&m, &b), 0);
	m = good, m.nchunks = MANIFEST_INLINE_MAX + 1;
	m.size = sum_sizes(refs, m.nchunks);
	assert_int_not_equal(manifest_encode(&m, &b), 0);
	m = good, m.kind = (enum manifest_kind)7;
	assert_int_not_equal(manifest_encode(&m, &b), 0);
	m = good, m.size = 7, m.chunks = NULL, m.nchunks = 0;
	assert_int_not_equal(manifest_encode(&m, &b), 0);
	/* Lists with a zero size: every listed chunk holds a byte. */
	m = good, m.size = 0, m.chunks = NULL, m.nchunks = 0, m.lists = refs, m.nlists = 1;
	assert_int_not_equal(manifest_encode(&m, &b), 0);
	refs[1].size = 0;
	m = good, m.size = sum_sizes(refs, 3);
	assert_int_not_equal(manifest_encode(&m, &b), 0);
	refs[1].size = (uint32_t)CHUNK_SIZE_MAX + 1;
	m = good, m.size = sum_sizes(refs, 3);
	assert_int_not_equal(manifest_encode(&m, &b), 0);

	/* Nothing was appended by any of them. */
	assert_int_equal(b.len, 4);
	assert_string_equal(buf_str(&b), "keep");
	buf_release(&b);
	free(refs);
}

static void test_crafted_baseline(void **state)
{
	(void)state;
	struct crafted c;

	/* The unbroken crafted messages decode, so the failures below are due
	 * to the one field each test changes. */
	crafted_init(&c, 3, 0);
	assert_int_equal(crafted_decode(&c), 0);
	crafted_release(&c);
	crafted_init(&c, 0, 2);
	assert_int_equal(crafted_decode(&c), 0);
	crafted_release(&c);
	crafted_init(&c, 0, 0);
	assert_int_equal(crafted_decode(&c), 0);
	crafted_release(&c);
}

static void test_decode_rejects_version_and_hash(void **state)
{
	(void)state;
	struct crafted c;
	const uint32_t versions[] = {0, 3, 255, UINT32_MAX};

	crafted_init(&c, 2, 0);
	for (size_t i = 0; i < sizeof(versions) / sizeof(versions[0]); i++) {
		c.pb.version = versions[i];
		assert_int_equal(crafted_decode(&c), SHOAL_EVERSION);
	}
	/* Version 2 is for directories with a listing only. */
	c.pb.version = MANIFEST_VERSION_LISTED;
	assert_int_equal(crafted_decode(&c), SHOAL_EPROTO);
	c.pb.version = MANIFEST_VERSION;
	c.pb.hash = (Shoal__HashAlg)1;
	assert_int_equal(crafted_decode(&c), SHOAL_EVERSION);
	c.pb.hash = (Shoal__HashAlg)-1;
	assert_int_equal(crafted_decode(&c), SHOAL_EVERSION);
	crafted_release(&c);

	/* An empty input is a message with every field zero: version 0. */
	struct manifest m;
	assert_int_equal(decode((const uint8_t *)"", 0, &m), SHOAL_EVERSION);
}

static void test_decode_rejects_kind(void **state)
{
	(void)state;
	struct crafted c;

	crafted_init(&c, 2, 0);
	c.pb.kind = (Shoal__EntryKind)2;
	assert_int_equal(crafted_decode(&c), SHOAL_EPROTO);
	c.pb.kind = (Shoal__EntryKind)-1;
	assert_int_equal(crafted_decode(&c), SHOAL_EPROTO);
	/* A directory without entries is an empty tree whose data is empty. */
	c.pb.kind = SHOAL__ENTRY_KIND__ENTRY_KIND_DIRECTORY;
	assert_int_equal(crafted_decode(&c), SHOAL_EPROTO); /* 2 chunks, no files */
	crafted_release(&c);
	crafted_init(&c, 0, 0);
	c.pb.kind = SHOAL__ENTRY_KIND__ENTRY_KIND_DIRECTORY;
	assert_int_equal(crafted_decode(&c), 0);
	crafted_release(&c);
}

static void test_decode_rejects_ref_lengths(void **state)
{
	(void)state;
	struct crafted c;
	const size_t bad_lens[] = {0, 1, 31, 33, 40};

	for (int in_lists = 0; in_lists <= 1; in_lists++) {
		crafted_init(&c, in_lists ? 0 : 3, in_lists ? 3 : 0);
		Shoal__ChunkRef *r = in_lists ? &c.lists[1] : &c.chunks[1];
		for (size_t i = 0; i < sizeof(bad_lens) / sizeof(bad_lens[0]); i++) {
			r->id.len = bad_lens[i];
			assert_int_equal(crafted_decode(&c), SHOAL_EPROTO);
			r->id.len = CHUNK_ID_LEN;
			r->key.len = bad_lens[i];
			assert_int_equal(crafted_decode(&c), SHOAL_EPROTO);
			r->key.len = CHUNK_KEY_LEN;
		}
		assert_int_equal(crafted_decode(&c), 0);
		crafted_release(&c);
	}
}

static void test_decode_rejects_chunk_sizes(void **state)
{
	(void)state;
	struct crafted c;
	const uint32_t bad_sizes[] = {0, (uint32_t)CHUNK_SIZE_MAX + 1, UINT32_MAX};

	for (int in_lists = 0; in_lists <= 1; in_lists++) {
		crafted_init(&c, in_lists ? 0 : 3, in_lists ? 3 : 0);
		Shoal__ChunkRef *r = in_lists ? &c.lists[2] : &c.chunks[2];
		uint32_t good = r->size;
		for (size_t i = 0; i < sizeof(bad_sizes) / sizeof(bad_sizes[0]); i++) {
			/* Keep the total consistent so only the chunk size is wrong. */
			if (!in_lists)
				c.pb.size = c.pb.size - r->size + bad_sizes[i];
			r->size = bad_sizes[i];
			assert_int_equal(crafted_decode(&c), SHOAL_EPROTO);
			if (!in_lists)
				c.pb.size = c.pb.size - r->size + good;
			r->size = good;
		}
		/* The largest size is fine. */
		if (!in_lists)
			c.pb.size = c.pb.size - r->size + CHUNK_SIZE_MAX;
		r->size = (uint32_t)CHUNK_SIZE_MAX;
		assert_int_equal(crafted_decode(&c), 0);
		crafted_release(&c);
	}
}

static void test_decode_rejects_chunks_and_lists(void **state)
{
	(void)state;
	struct crafted c;

	crafted_init(&c, 2, 2);
	c.pb.size = c.chunks[0].size + c.chunks[1].size;
	assert_int_equal(crafted_decode(&c), SHOAL_EPROTO);
	c.pb.size = (uint64_t)1 << 30;
	assert_int_equal(crafted_decode(&c), SHOAL_EPROTO);
	crafted_release(&c);
}

static void test_decode_rejects_size_mismatch(void **state)
{
	(void)state;
	struct crafted c;

	crafted_init(&c, 3, 0);
	uint64_t sum = c.pb.size;
	const uint64_t bad[] = {sum + 1, sum - 1, 0, UINT64_MAX, sum * 2};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		c.pb.size = bad[i];
		assert_int_equal(crafted_decode(&c), SHOAL_EPROTO);
	}
	crafted_release(&c);

	/* A size with nothing to hold it. */
	crafted_init(&c, 0, 0);
	c.pb.size = 1;
	assert_int_equal(crafted_decode(&c), SHOAL_EPROTO);
	crafted_release(&c);

	/* Lists but a zero size. */
	crafted_init(&c, 0, 1);
	c.pb.size = 0;
	assert_int_equal(crafted_decode(&c), SHOAL_EPROTO);
	crafted_release(&c);
}

static void test_decode_rejects_mode(void **state)
{
	(void)state;
	struct crafted c;
	const uint32_t bad[] = {010000, 017777, 0100644, UINT32_MAX};

	crafted_init(&c, 1, 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		c.pb.mode = bad[i];
		assert_int_equal(crafted_decode(&c), SHOAL_EPROTO);
	}
	c.pb.mode = 07777;
	assert_int_equal(crafted_decode(&c), 0);
	crafted_release(&c);
}

/* mtime_ns: below 10^9, on the manifest and on every entry; a manifest
 * written before the field existed decodes with 0. */
static void test_mtime_ns(void **state)
{
	(void)state;
	struct crafted c;
	crafted_init(&c, 1, 0);
	assert_int_equal(c.pb.mtime_ns, 0);
	struct buf b = BUF_INIT;
	struct manifest m;
	crafted_pack(&c, &b);
	assert_int_equal(decode(b.data, b.len, &m), 0);
	assert_int_equal(m.mtime_ns, 0);
	manifest_release(&m);
	const uint32_t bad[] = {MANIFEST_NS_MAX, MANIFEST_NS_MAX + 1, UINT32_MAX};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		c.pb.mtime_ns = bad[i];
		assert_int_equal(crafted_decode(&c), SHOAL_EPROTO);
	}
	c.pb.mtime_ns = MANIFEST_NS_MAX - 1;
	crafted_pack(&c, &b);
	assert_int_equal(decode(b.data, b.len, &m), 0);
	assert_int_equal(m.mtime_ns, MANIFEST_NS_MAX - 1);
	manifest_release(&m);
	crafted_release(&c);

	/* The encoder refuses them too, appending nothing. */
	struct manifest f = {.kind = MANIFEST_FILE, .mtime_ns = MANIFEST_NS_MAX};
	buf_reset(&b);
	assert_int_equal(manifest_encode(&f, &b), SHOAL_EPROTO);
	assert_int_equal(b.len, 0);
	struct dir_entry e[] = {
		{.path = "f", .kind = MANIFEST_FILE, .mode = 0644, .mtime_ns = MANIFEST_NS_MAX},
	};
	struct manifest d = {.kind = MANIFEST_DIRECTORY, .entries = e, .nentries = 1};
	assert_int_equal(manifest_encode(&d, &b), SHOAL_EPROTO);
	assert_int_equal(b.len, 0);
	e[0].mtime_ns = MANIFEST_NS_MAX - 1;
	assert_int_equal(manifest_encode(&d, &b), 0);
	assert_int_equal(decode(b.data, b.len, &m), 0);
	assert_int_equal(m.entries[0].mtime_ns, MANIFEST_NS_MAX - 1);
	manifest_release(&m);
	buf_release(&b);
}

static void test_decode_rejects_too_many_refs(void **state)
{
	(void)state;
	struct crafted c;

	crafted_init(&c, MANIFEST_INLINE_MAX + 1, 0);
	assert_int_equal(crafted_decode(&c), SHOAL_ETOOBIG);
	/* One fewer is accepted. */
	c.pb.n_chunks--;
	c.pb.size -= c.chunks[MANIFEST_INLINE_MAX].size;
	assert_int_equal(crafted_decode(&c), 0);
	crafted_release(&c);

	crafted_init(&c, 0, MANIFEST_LISTS_MAX + 1);
	assert_int_equal(crafted_decode(&c), SHOAL_ETOOBIG);
	c.pb.n_lists--;
	assert_int_equal(crafted_decode(&c), 0);
	crafted_release(&c);
}

static void test_decode_rejects_truncations(void **state)
{
	(void)state;
	struct buf b = BUF_INIT;
	struct manifest orig = {.kind = MANIFEST_FILE, .mode = 0644, .mtime = 1700000000};
	orig.chunks = make_refs(3, 5);
	orig.nchunks = 3;
	orig.size = sum_sizes(orig.chunks, 3);
	assert_int_equal(manifest_encode(&orig, &b), 0);

	for (size_t n = 0; n < b.len; n++) {
		/* A heap copy of exactly n bytes, so ASan sees any overread. */
		uint8_t *prefix = malloc(n ? n : 1);
		assert_non_null(prefix);
		memcpy(prefix, b.data, n);
		struct manifest m;
		int err = decode(prefix, n, &m);
		if (err == 0) {
			/* Protobuf cannot tell a message cut at a field boundary
			 * from a shorter one. Whatever is accepted must still be
			 * valid, must not pass for the original, and must be
			 * exactly what its bytes say (re-encoding gives them). */
			struct buf again = BUF_INIT;
			assert_valid(&m);
			assert_false(m.size == orig.size && m.nchunks == orig.nchunks);
			assert_int_equal(manifest_encode(&m, &again), 0);
			assert_int_equal(again.len, n);
			assert_memory_equal(again.data, prefix, n);
			buf_release(&again);
		}
		manifest_release(&m);
		free(prefix);
	}
	/* The whole thing decodes, so the loop above saw the real encoding. */
	struct manifest m;
	assert_int_equal(decode(b.data, b.len, &m), 0);
	assert_manifests_equal(&orig, &m);
	manifest_release(&m);
	free(orig.chunks);
	buf_release(&b);
}

static void test_decode_random_garbage(void **state)
{
	(void)state;
	uint8_t bytes[400];
	struct manifest m;

	rng_state = 0x1234567;
	for (int round = 0; round < 20000; round++) {
		size_t n = rng() % sizeof(bytes);
		for (size_t i = 0; i < n; i++)
			bytes[i] = (uint8_t)rng();
		/* Half the time, start like a real manifest (version 1). */
		if (n >= 2 && (round & 1)) {
			bytes[0] = 0x08;
			bytes[1] = 0x01;
		}
		if (decode(bytes, n, &m) == 0)
			assert_valid(&m);
		manifest_release(&m);
	}
}

static void test_decode_mutations(void **state)
{
	(void)state;
	struct buf b = BUF_INIT;
	struct manifest orig = {.kind = MANIFEST_FILE, .mode = 0755, .mtime = -3};
	orig.chunks = make_refs(4, 11);
	orig.nchunks = 4;
	orig.size = sum_sizes(orig.chunks, 4);
	assert_int_equal(manifest_encode(&orig, &b), 0);
	uint8_t *copy = malloc(b.len);
	assert_non_null(copy);

	rng_state = 0xabcdef;
	int accepted = 0;
	for (int round = 0; round < 20000; round++) {
		memcpy(copy, b.data, b.len);
		int flips = 1 + (int)(rng() % 3);
		for (int i = 0; i < flips; i++)
			copy[rng() % b.len] ^= (uint8_t)(1 + rng() % 255);
		struct manifest m;
		if (decode(copy, b.len, &m) == 0) {
			assert_valid(&m);
			accepted++;
		}
		manifest_release(&m);
	}
	/* Flips inside ids, keys or mtime are still valid manifests: the
	 * decoder is not rejecting everything. */
	assert_true(accepted > 0);
	free(copy);
	free(orig.chunks);
	buf_release(&b);
}

/* Appends an unknown length-delimited field (number 100) of total bytes
 * (tag, 4-byte length varint, payload) to out. total must leave a payload
 * length needing exactly 4 varint bytes. */
static void add_unknown_field(struct buf *out, size_t total)
{
	size_t payload = total - 2 - 4;
	assert_true(payload >= (1u << 21) && payload < (1u << 28));
	const uint8_t tag[2] = {0xa2, 0x06}; /* (100 << 3) | 2 */
	buf_add(out, tag, 2);
	for (int i = 0; i < 4; i++) {
		uint8_t byte = (uint8_t)((payload >> (7 * i)) & 0x7f);
		if (i < 3)
			byte |= 0x80;
		buf_add(out, &byte, 1);
	}
	buf_grow(out, payload);
	memset(out->data + out->len, 'u', payload);
	buf_setlen(out, out->len + payload);
}

static void test_decode_size_limit(void **state)
{
	(void)state;
	struct buf b = BUF_INIT;
	struct manifest orig = {.kind = MANIFEST_FILE, .mode = 0600};
	orig.chunks = make_refs(2, 1);
	orig.nchunks = 2;
	orig.size = sum_sizes(orig.chunks, 2);
	assert_int_equal(manifest_encode(&orig, &b), 0);
	size_t base = b.len;
	struct manifest m;

	/* Padded with an unknown field to exactly the limit: accepted (unknown
	 * fields are ignored), so the limit is the only difference below. */
	add_unknown_field(&b, CHUNK_SIZE_MAX - base);
	assert_int_equal(b.len, CHUNK_SIZE_MAX);
	assert_int_equal(decode(b.data, b.len, &m), 0);
	assert_manifests_equal(&orig, &m);
	manifest_release(&m);

	/* One byte more. */
	buf_setlen(&b, base);
	add_unknown_field(&b, CHUNK_SIZE_MAX - base + 1);
	assert_int_equal(b.len, CHUNK_SIZE_MAX + 1);
	assert_int_equal(decode(b.data, b.len, &m), SHOAL_ETOOBIG);

	/* ChunkLists have the same limit. */
	struct chunk_ref *refs = (struct chunk_ref *)1;
	size_t count = 99;
	assert_int_equal(chunklist_decode(b.data, b.len, &refs, &count), SHOAL_ETOOBIG);
	assert_null(refs);
	assert_int_equal(count, 0);

	free(orig.chunks);
	buf_release(&b);
}

static void test_chunklist_round_trip(void **state)
{
	(void)state;
	const size_t counts[] = {1, 2, 100, CHUNKLIST_MAX};

	for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
		struct chunk_ref *refs = make_refs(counts[i], (uint8_t)i), *back = NULL;
		struct buf b = BUF_INIT;
		size_t count = 0;
		buf_addstr(&b, "xy");
		assert_int_equal(chunklist_encode(refs, counts[i], &b), 0);
		assert_memory_equal(b.data, "xy", 2);
		assert_true(b.len - 2 <= CHUNK_SIZE_MAX);
		assert_int_equal(chunklist_decode(b.data + 2, b.len - 2, &back, &count), 0);
		assert_int_equal(count, counts[i]);
		assert_non_null(back);
		assert_refs_equal(refs, back, count);
		free(back);
		free(refs);
		buf_release(&b);
	}
}

static void test_chunklist_rejects(void **state)
{
	(void)state;
	struct chunk_ref *refs = make_refs(CHUNKLIST_MAX + 1, 1), *back;
	struct buf b = BUF_INIT;
	size_t count;

	/* Empty and oversized lists are not encoded. */
	assert_int_equal(chunklist_encode(refs, 0, &b), SHOAL_EPROTO);
	assert_int_equal(chunklist_encode(refs, CHUNKLIST_MAX + 1, &b), SHOAL_EPROTO);
	assert_int_equal(b.len, 0);

	/* An empty list (the empty message) is not decoded. */
	back = (struct chunk_ref *)1;
	count = 5;
	assert_int_equal(chunklist_decode((const uint8_t *)"", 0, &back, &count), SHOAL_EPROTO);
	assert_null(back);
	assert_int_equal(count, 0);

	/* Crafted: too many refs, and one bad ref. */
	struct crafted c;
	crafted_init(&c, CHUNKLIST_MAX + 1, 0);
	Shoal__ChunkList list = SHOAL__CHUNK_LIST__INIT;
	list.n_chunks = CHUNKLIST_MAX + 1;
	list.chunks = c.chunk_ptrs;
	buf_grow(&b, shoal__chunk_list__get_packed_size(&list));
	buf_setlen(&b, shoal__chunk_list__pack(&list, b.data));
	assert_int_equal(chunklist_decode(b.data, b.len, &back, &count), SHOAL_ETOOBIG);
	assert_null(back);
	assert_int_equal(count, 0);

	list.n_chunks = 3;
	const struct {
		size_t id_len, key_len;
		uint32_t size;
	} bad[] = {{31, 32, 100},
		   {32, 33, 100},
		   {0, 32, 100},
		   {32, 32, 0},
		   {32, 32, (uint32_t)CHUNK_SIZE_MAX + 1}};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		c.chunks[1].id.len = bad[i].id_len;
		c.chunks[1].key.len = bad[i].key_len;
		c.chunks[1].size = bad[i].size;
		buf_reset(&b);
		buf_grow(&b, shoal__chunk_list__get_packed_size(&list));
		buf_setlen(&b, shoal__chunk_list__pack(&list, b.data));
		back = (struct chunk_ref *)1;
		count = 5;
		assert_int_equal(chunklist_decode(b.data, b.len, &back, &count), SHOAL_EPROTO);
		assert_null(back);
		assert_int_equal(count, 0);
	}
	/* Repaired, the same list decodes. */
	c.chunks[1].id.len = CHUNK_ID_LEN;
	c.chunks[1].key.len = CHUNK_KEY_LEN;
	c.chunks[1].size = 1;
	buf_reset(&b);
	buf_grow(&b, shoal__chunk_list__get_packed_size(&list));
	buf_setlen(&b, shoal__chunk_list__pack(&list, b.data));
	assert_int_equal(chunklist_decode(b.data, b.len, &back, &count), 0);
	assert_int_equal(count, 3);
	free(back);

	/* Garbage. */
	const uint8_t junk[] = {0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01};
	assert_int_equal(chunklist_decode(junk, sizeof(junk), &back, &count), SHOAL_EPROTO);
	assert_null(back);

	crafted_release(&c);
	free(refs);
	buf_release(&b);
}

static void test_chunklist_truncations(void **state)
{
	(void)state;
	struct chunk_ref *refs = make_refs(3, 8), *back;
	struct buf b = BUF_INIT;
	size_t count;

	assert_int_equal(chunklist_encode(refs, 3, &b), 0);
	for (size_t n = 0; n < b.len; n++) {
		uint8_t *prefix = malloc(n ? n : 1);
		assert_non_null(prefix);
		memcpy(prefix, b.data, n);
		int err = chunklist_decode(prefix, n, &back, &count);
		if (err == 0) {
			/* Only a cut between refs parses: a shorter list of the
			 * same leading refs, never the whole list. */
			assert_true(count >= 1 && count < 3);
			assert_refs_equal(refs, back, count);
			free(back);
		} else {
			assert_null(back);
			assert_int_equal(count, 0);
		}
		free(prefix);
	}
	free(refs);
	buf_release(&b);
}

/* ---- directory manifests ---- */

/* A tree: depth first, names sorted bytewise; file sizes sum to 3021, the
 * sizes of make_refs(3, ...). */
static const struct dir_entry tree[] = {
	{.path = "a", .kind = MANIFEST_DIRECTORY, .mode = 0755, .mtime = 1700000000},
	{.path = "a/b", .kind = MANIFEST_DIRECTORY, .mode = 0700, .mtime = 1, .mtime_ns = 1},
	{.path = "a/b/deep.txt",
	 .kind = MANIFEST_FILE,
	 .mode = 0644,
	 .mtime = 2,
	 .mtime_ns = 999999999,
	 .size = 1000},
	{.path = "a/empty", .kind = MANIFEST_FILE, .mode = 0600, .mtime = 3},
	{.path = "a/x", .kind = MANIFEST_FILE, .mode = 0444, .mtime = -5, .size = 1007},
	{.path = "c", .kind = MANIFEST_DIRECTORY, .mode = 0, .mtime = INT64_MIN},
	{.path = "h\xc3\xa9llo w\xc3\xb6rld.txt",
	 .kind = MANIFEST_FILE,
	 .mode = 07777,
	 .mtime = INT64_MAX,
	 .size = 1014},
};
#define NTREE	  (sizeof(tree) / sizeof(tree[0]))
#define TREE_SIZE 3021

/* A copy of tree the caller may break (paths stay borrowed or static). */
static struct dir_entry *tree_copy(size_t extra)
{
	struct dir_entry *e = calloc(NTREE + extra, sizeof(*e));
	assert_non_null(e);
	memcpy(e, tree, sizeof(tree));
	return e;
}

static void test_dir_round_trip(void **state)
{
	(void)state;
	/* Inline refs. */
	struct manifest m = {
		.kind = MANIFEST_DIRECTORY, .mode = 0751, .mtime = 42, .mtime_ns = 123456789};
	m.entries = (struct dir_entry *)tree;
	m.nentries = NTREE;
	m.chunks = make_refs(3, 7);
	m.nchunks = 3;
	m.size = sum_sizes(m.chunks, 3);
	assert_true(m.size == TREE_SIZE);
	round_trip(&m);
	free(m.chunks);

	/* ChunkLists. */
	m.chunks = NULL;
	m.nchunks = 0;
	m.lists = make_refs(2, 8);
	m.nlists = 2;
	round_trip(&m);
	free(m.lists);

	/* Only directories and empty files: no data at all. */
	const struct dir_entry bare[] = {
		{.path = "d", .kind = MANIFEST_DIRECTORY, .mode = 0755},
		{.path = "d/e", .kind = MANIFEST_DIRECTORY, .mode = 0755},
		{.path = "d/e/nothing", .kind = MANIFEST_FILE, .mode = 0644},
		{.path = "zero", .kind = MANIFEST_FILE, .mode = 0644},
	};
	struct manifest b = {.kind = MANIFEST_DIRECTORY, .mode = 0700};
	b.entries = (struct dir_entry *)bare;
	b.nentries = 4;
	round_trip(&b);

	/* An empty tree. */
	struct manifest e = {.kind = MANIFEST_DIRECTORY, .mode = 0700, .mtime = 5};
	round_trip(&e);

	/* Entries in another (still parent-first) order are kept as given. */
	struct dir_entry *o = tree_copy(0);
	struct dir_entry c = o[5];
	memmove(&o[1], &o[0], 5 * sizeof(*o));
	o[0] = c; /* "c" first */
	m = (struct manifest){.kind = MANIFEST_DIRECTORY, .entries = o, .nentries = NTREE};
	m.lists = make_refs(1, 9);
	m.nlists = 1;
	m.size = TREE_SIZE;
	round_trip(&m);
	free(m.lists);
	free(o);
}

/* Encodes a directory manifest of e[0..n) holding size bytes (in one
 * ChunkList, so that only the listing is checked); returns the result and
 * checks nothing was appended on failure. */
static int encode_dir(struct dir_entry *e, size_t n, uint64_t size)
{
	struct buf b = BUF_INIT;
	struct chunk_ref *list = make_refs(1, 3);
	struct manifest m = {.kind = MANIFEST_DIRECTORY, .entries = e, .nentries = n, .size = size};
	if (size) {
		m.lists = list;
		m.nlists = 1;
	}
	buf_addstr(&b, "keep");
	int err = manifest_encode(&m, &b);
	if (err)
		assert_int_equal(b.len, 4);
	buf_release(&b);
	free(list);
	return err;
}

/* Packs a directory manifest of e[0..n) by hand (no checks) and decodes it. */
static int decode_dir(const struct dir_entry *e, size_t n, uint64_t size, Shoal__EntryKind kind)
{
	struct crafted c;
	crafted_init(&c, 0, size ? 1 : 0);
	c.pb.kind = kind;
	c.pb.size = size;
	Shoal__DirEntry *pbs = calloc(n ? n : 1, sizeof(*pbs));
	Shoal__DirEntry **ptrs = calloc(n ? n : 1, sizeof(*ptrs));
	assert_non_null(pbs);
	assert_non_null(ptrs);
	for (size_t i = 0; i < n; i++) {
		shoal__dir_entry__init(&pbs[i]);
		pbs[i].path = e[i].path;
		pbs[i].kind = (Shoal__EntryKind)e[i].kind;
		pbs[i].mode = e[i].mode;
		pbs[i].mtime = e[i].mtime;
		pbs[i].size = e[i].size;
		ptrs[i] = &pbs[i];
	}
	c.pb.n_entries = n;
	c.pb.entries = n ? ptrs : NULL;
	int err = crafted_decode(&c);
	free(pbs);
	free(ptrs);
	crafted_release(&c);
	return err;
}

/* Both the encoder and the decoder refuse e[0..n) with err. */
static void assert_listing_refused(struct dir_entry *e, size_t n, uint64_t size, int err)
{
	assert_int_equal(encode_dir(e, n, size), err);
	assert_int_equal(decode_dir(e, n, size, SHOAL__ENTRY_KIND__ENTRY_KIND_DIRECTORY), err);
	assert_int_equal(manifest_dir_fits(e, n, size, 1), err);
}

static void test_dir_rejects_bad_paths(void **state)
{
	(void)state;
	/* The unbroken tree passes all three checks. */
	struct dir_entry *e = tree_copy(1);
	assert_int_equal(encode_dir(e, NTREE, TREE_SIZE), 0);
	assert_int_equal(decode_dir(e, NTREE, TREE_SIZE, SHOAL__ENTRY_KIND__ENTRY_KIND_DIRECTORY),
			 0);
	assert_int_equal(manifest_dir_fits(e, NTREE, TREE_SIZE, 1), 0);

	char long_name[300];
	memcpy(long_name, "a/", 2);
	memset(long_name + 2, 'n', 256);
	long_name[258] = 0; /* "a/" + a 256-byte name */
	char *bad[] = {
		"../x",	   "/x",   "a/../../x", "a/..",	      "a/./x",
		"a/.",	   ".",	   "..",	"./a/x",      "a//x",
		"a/x/",	   "",	   "/",		"a/\x01x",    "a/x\x7f",
		"a/ x",	   "a/x ", "a/\xff",	"a/\xc0\xaf", "a/\xed\xa0\x80",
		long_name,
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		/* As the file "a/x" (which keeps the sizes consistent). */
		e[4].path = bad[i];
		assert_listing_refused(e, NTREE, TREE_SIZE, SHOAL_EPROTO);
		e[4].path = tree[4].path;
	}
	/* A backslash is an ordinary character, not a separator. */
	e[4].path = "a/..\\x";
	assert_int_equal(encode_dir(e, NTREE, TREE_SIZE), 0);
	free(e);
}

static void test_dir_rejects_bad_listings(void **state)
{
	(void)state;
	struct dir_entry *e = tree_copy(1);

	/* Duplicates: a directory, a file, a file named like a directory. */
	e[NTREE] = tree[0];
	assert_listing_refused(e, NTREE + 1, TREE_SIZE, SHOAL_EPROTO);
	e[NTREE] = tree[3]; /* an empty file: sizes still add up */
	assert_listing_refused(e, NTREE + 1, TREE_SIZE, SHOAL_EPROTO);
	e[NTREE] = tree[3];
	e[NTREE].path = "c";
	assert_listing_refused(e, NTREE + 1, TREE_SIZE, SHOAL_EPROTO);

	/* A parent that is missing, a file, or listed after its child. */
	e[NTREE] = tree[3];
	e[NTREE].path = "zz/file";
	assert_listing_refused(e, NTREE + 1, TREE_SIZE, SHOAL_EPROTO);
	e[NTREE].path = "a/x/file";
	assert_listing_refused(e, NTREE + 1, TREE_SIZE, SHOAL_EPROTO);
	e[NTREE].path = "a/b/deep.txt/file";
	assert_listing_refused(e, NTREE + 1, TREE_SIZE, SHOAL_EPROTO);
	struct dir_entry swap = e[1];
	e[1] = e[2];
	e[2] = swap; /* a/b/deep.txt before a/b */
	assert_listing_refused(e, NTREE, TREE_SIZE, SHOAL_EPROTO);
	e[2] = e[1];
	e[1] = swap;
	assert_int_equal(encode_dir(e, NTREE, TREE_SIZE), 0);

	/* Sizes: a directory with one, a total that does not add up. */
	e[1].size = 1;
	assert_listing_refused(e, NTREE, TREE_SIZE + 1, SHOAL_EPROTO);
	e[1].size = 0;
	assert_listing_refused(e, NTREE, TREE_SIZE + 1, SHOAL_EPROTO);
	assert_listing_refused(e, NTREE, TREE_SIZE - 1, SHOAL_EPROTO);
	e[2].size = UINT64_MAX; /* wraps the sum around to TREE_SIZE - 1 */
	assert_listing_refused(e, NTREE, TREE_SIZE - 1, SHOAL_EPROTO);
	e[2].size = tree[2].size;

	/* Modes and kinds. */
	e[3].mode = 010000;
	assert_listing_refused(e, NTREE, TREE_SIZE, SHOAL_EPROTO);
	e[3].mode = 0600;
	e[0].mode = 0100755;
	assert_listing_refused(e, NTREE, TREE_SIZE, SHOAL_EPROTO);
	e[0].mode = 0755;
	e[3].kind = (enum manifest_kind)2;
	assert_listing_refused(e, NTREE, TREE_SIZE, SHOAL_EPROTO);
	e[3].kind = MANIFEST_FILE;
	assert_int_equal(encode_dir(e, NTREE, TREE_SIZE), 0);

	/* A file manifest has no entries. */
	assert_int_equal(decode_dir(e, NTREE, TREE_SIZE, SHOAL__ENTRY_KIND__ENTRY_KIND_FILE),
			 SHOAL_EPROTO);
	struct buf b = BUF_INIT;
	struct manifest m = {.kind = MANIFEST_FILE, .entries = e, .nentries = 1};
	assert_int_equal(manifest_encode(&m, &b), SHOAL_EPROTO);
	assert_int_equal(b.len, 0);
	free(e);
}

/* A chain of n directories named name/name/..., then (when file) a file
 * "f" inside the last: entries into e (paths allocated; free_chain()). */
static size_t make_chain(struct dir_entry *e, size_t n, const char *name, int file)
{
	size_t len = strlen(name), count = 0;
	char *path = calloc(1, n * (len + 1) + 3);
	assert_non_null(path);
	for (size_t i = 0; i < n; i++) {
		if (i)
			strcat(path, "/");
		strcat(path, name);
		e[count++] = (struct dir_entry){.path = strdup(path), .kind = MANIFEST_DIRECTORY};
	}
	if (file) {
		strcat(path, "/f");
		e[count++] = (struct dir_entry){.path = strdup(path), .kind = MANIFEST_FILE};
	}
	free(path);
	return count;
}

static void free_chain(struct dir_entry *e, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(e[i].path);
}

static void test_dir_path_limits(void **state)
{
	(void)state;
	struct dir_entry *e = calloc(MANIFEST_DEPTH_MAX + 2, sizeof(*e));
	assert_non_null(e);

	/* Depth: MANIFEST_DEPTH_MAX components, not one more. */
	size_t n = make_chain(e, MANIFEST_DEPTH_MAX, "a", 0);
	assert_int_equal(encode_dir(e, n, 0), 0);
	assert_int_equal(decode_dir(e, n, 0, SHOAL__ENTRY_KIND__ENTRY_KIND_DIRECTORY), 0);
	free_chain(e, n);
	n = make_chain(e, MANIFEST_DEPTH_MAX, "a", 1);
	assert_listing_refused(e, n, 0, SHOAL_EPROTO);
	free_chain(e, n);
	n = make_chain(e, MANIFEST_DEPTH_MAX + 1, "a", 0);
	assert_listing_refused(e, n, 0, SHOAL_EPROTO);
	free_chain(e, n);

	/* Length: 16 names of 255 bytes make a path of exactly
	 * MANIFEST_PATH_MAX bytes; a file inside is one byte too many. */
	char name[256];
	memset(name, 'd', 255);
	name[255] = 0;
	n = make_chain(e, 16, name, 0);
	assert_int_equal(strlen(e[15].path), MANIFEST_PATH_MAX);
	assert_int_equal(encode_dir(e, n, 0), 0);
	assert_int_equal(decode_dir(e, n, 0, SHOAL__ENTRY_KIND__ENTRY_KIND_DIRECTORY), 0);
	free_chain(e, n);
	n = make_chain(e, 16, name, 1);
	assert_listing_refused(e, n, 0, SHOAL_EPROTO);
	free_chain(e, n);
	free(e);
}

/* Bytes of storage for each path of make_wide(): room for any size_t. */
#define WIDE_SLOT 48

/* n files "dNNN/fNNNNNN" (under 1 + n / 1000 directories) into a new
 * array; *paths receives the storage to free. */
static struct dir_entry *make_wide(size_t n, size_t *count, char **paths)
{
	size_t dirs = n / 1000 + 1;
	struct dir_entry *e = calloc(n + dirs, sizeof(*e));
	char *p = malloc((n + dirs) * WIDE_SLOT);
	assert_non_null(e);
	assert_non_null(p);
	size_t k = 0;
	for (size_t d = 0; d < dirs; d++) {
		char *path = p + WIDE_SLOT * k;
		snprintf(path, WIDE_SLOT, "d%03zu", d);
		e[k++] = (struct dir_entry){.path = path, .kind = MANIFEST_DIRECTORY, .mode = 0755};
		for (size_t f = d * 1000; f < n && f < (d + 1) * 1000; f++) {
			path = p + WIDE_SLOT * k;
			snprintf(path, WIDE_SLOT, "d%03zu/f%06zu", d, f);
			e[k++] = (struct dir_entry){.path = path,
						    .kind = MANIFEST_FILE,
						    .mode = 0644,
						    .mtime = 1700000000};
		}
	}
	*count = k;
	*paths = p;
	return e;
}

static void test_dir_size_limits(void **state)
{
	(void)state;
	/* 40,000 entries with short paths fit, with room for refs. */
	size_t n;
	char *paths;
	struct dir_entry *e = make_wide(40000, &n, &paths);
	assert_int_equal(manifest_dir_fits(e, n, 0, 1024), 0);
	struct manifest m = {.kind = MANIFEST_DIRECTORY, .entries = e, .nentries = n};
	round_trip(&m);
	free(e);
	free(paths);

	/* 200,000 do not: refused by the early check and by the encoder, before
	 * anything could produce a manifest the decoder's budget would refuse. */
	e = make_wide(200000, &n, &paths);
	assert_int_equal(manifest_dir_fits(e, n, 0, 1), SHOAL_ETOOBIG);
	assert_int_equal(encode_dir(e, n, 0), SHOAL_ETOOBIG);
	/* Crafted anyway: refused, within the budget. */
	assert_int_not_equal(decode_dir(e, n, 0, SHOAL__ENTRY_KIND__ENTRY_KIND_DIRECTORY), 0);
	free(e);
	free(paths);

	/* The entry count itself. */
	e = calloc(MANIFEST_ENTRIES_MAX + 1, sizeof(*e));
	assert_non_null(e);
	assert_int_equal(encode_dir(e, MANIFEST_ENTRIES_MAX + 1, 0), SHOAL_ETOOBIG);
	assert_int_equal(manifest_dir_fits(e, MANIFEST_ENTRIES_MAX + 1, 0, 1), SHOAL_ETOOBIG);
	free(e);

	/* Too many refs for one manifest. */
	struct dir_entry *t = tree_copy(0);
	assert_int_equal(manifest_dir_fits(t, NTREE, TREE_SIZE, MANIFEST_INLINE_MAX), 0);
	assert_int_equal(manifest_dir_fits(t, NTREE, TREE_SIZE, MANIFEST_INLINE_MAX + 1),
			 SHOAL_ETOOBIG);
	free(t);
}

static void test_dir_decode_mutations(void **state)
{
	(void)state;
	struct buf b = BUF_INIT;
	struct manifest orig = {.kind = MANIFEST_DIRECTORY, .mode = 0755, .mtime = 77};
	orig.entries = (struct dir_entry *)tree;
	orig.nentries = NTREE;
	orig.chunks = make_refs(3, 12);
	orig.nchunks = 3;
	orig.size = TREE_SIZE;
	assert_int_equal(manifest_encode(&orig, &b), 0);
	uint8_t *copy = malloc(b.len);
	assert_non_null(copy);

	rng_state = 0x7e57;
	int accepted = 0;
	for (int round = 0; round < 20000; round++) {
		memcpy(copy, b.data, b.len);
		int flips = 1 + (int)(rng() % 3);
		for (int i = 0; i < flips; i++)
			copy[rng() % b.len] ^= (uint8_t)(1 + rng() % 255);
		struct manifest m;
		if (decode(copy, b.len, &m) == 0) {
			assert_valid(&m);
			accepted++;
		}
		manifest_release(&m);
	}
	assert_true(accepted > 0);
	free(copy);
	free(orig.chunks);
	buf_release(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip_inline),
		cmocka_unit_test(test_round_trip_empty_file),
		cmocka_unit_test(test_round_trip_lists),
		cmocka_unit_test(test_round_trip_at_limits),
		cmocka_unit_test(test_encode_rejects_invalid),
		cmocka_unit_test(test_crafted_baseline),
		cmocka_unit_test(test_decode_rejects_version_and_hash),
		cmocka_unit_test(test_decode_rejects_kind),
		cmocka_unit_test(test_decode_rejects_ref_lengths),
		cmocka_unit_test(test_decode_rejects_chunk_sizes),
		cmocka_unit_test(test_decode_rejects_chunks_and_lists),
		cmocka_unit_test(test_decode_rejects_size_mismatch),
		cmocka_unit_test(test_decode_rejects_mode),
		cmocka_unit_test(test_decode_rejects_too_many_refs),
		cmocka_unit_test(test_decode_rejects_truncations),
		cmocka_unit_test(test_decode_random_garbage),
		cmocka_unit_test(test_decode_mutations),
		cmocka_unit_test(test_decode_size_limit),
		cmocka_unit_test(test_chunklist_round_trip),
		cmocka_unit_test(test_chunklist_rejects),
		cmocka_unit_test(test_chunklist_truncations),
		cmocka_unit_test(test_dir_round_trip),
		cmocka_unit_test(test_dir_rejects_bad_paths),
		cmocka_unit_test(test_dir_rejects_bad_listings),
		cmocka_unit_test(test_mtime_ns),
		cmocka_unit_test(test_dir_path_limits),
		cmocka_unit_test(test_dir_size_limits),
		cmocka_unit_test(test_dir_decode_mutations),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
