/*
 * Tests for src/proto/manifest.c: Manifest and ChunkList codecs. Valid
 * manifests (inline refs, ChunkList refs, empty files, the limits themselves)
 * must round-trip field for field. Invalid ones are crafted by packing
 * Shoal__Manifest messages by hand with protobuf-c, so each rule of
 * manifest_decode() is broken alone and must give its documented error with
 * the output zeroed: versions, hash, kind, id and key lengths, chunk sizes,
 * chunks and lists together, sizes that do not add up, mode, ref counts, input
 * length. Truncations, random bytes and random mutations must never yield a
 * manifest that breaks the rules.
 */
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
	assert_int_equal(a->nchunks, b->nchunks);
	assert_int_equal(a->nlists, b->nlists);
	assert_refs_equal(a->chunks, b->chunks, a->nchunks);
	assert_refs_equal(a->lists, b->lists, a->nlists);
	if (a->nchunks == 0)
		assert_null(b->chunks);
	if (a->nlists == 0)
		assert_null(b->lists);
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

/* Checks every rule of manifest.h on a manifest the decoder accepted. */
static void assert_valid(const struct manifest *m)
{
	assert_int_equal(m->kind, MANIFEST_FILE);
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
	const uint32_t versions[] = {0, 2, 3, 255, UINT32_MAX};

	crafted_init(&c, 2, 0);
	for (size_t i = 0; i < sizeof(versions) / sizeof(versions[0]); i++) {
		c.pb.version = versions[i];
		assert_int_equal(crafted_decode(&c), SHOAL_EVERSION);
	}
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
	/* Directory manifests are not supported yet: refused, not misread as
	 * files. */
	c.pb.kind = SHOAL__ENTRY_KIND__ENTRY_KIND_DIRECTORY;
	assert_int_not_equal(crafted_decode(&c), 0);
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
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
