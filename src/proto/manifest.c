/*
 * Manifest and ChunkList codecs over protobuf-c; see manifest.h. protobuf-c
 * does the wire parsing (its allocations are bounded by the input length);
 * everything it accepts is then checked against Shoal's rules before any of it
 * reaches the caller.
 */
#include "proto/manifest.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "proto/shoal.pb-c.h"
#include "util/error.h"

/*
 * protobuf-c materialises every repeated entry before our limits are checked,
 * so a hostile 4 MiB manifest of empty entries could make it allocate
 * hundreds of MiB. Decoding therefore draws from a byte budget: a full valid
 * manifest (16384 refs) needs about 3 MiB.
 */
#define DECODE_ALLOC_MAX ((size_t)8 * 1024 * 1024)

struct budget {
	ProtobufCAllocator a;
	size_t left;
};

static void *budget_alloc(void *ctx, size_t n)
{
	struct budget *b = ctx;
	if (n > b->left)
		return NULL;
	b->left -= n;
	return malloc(n);
}

static void budget_free(void *ctx, void *p)
{
	(void)ctx;
	free(p);
}

static void budget_init(struct budget *b)
{
	b->a.alloc = budget_alloc;
	b->a.free = budget_free;
	b->a.allocator_data = b;
	b->left = DECODE_ALLOC_MAX;
}

void manifest_release(struct manifest *m)
{
	free(m->chunks);
	free(m->lists);
	memset(m, 0, sizeof(*m));
}

/* Fills pb (pointing into pbs[]) from refs; all borrowed from refs. */
static Shoal__ChunkRef **refs_to_pb(const struct chunk_ref *refs, size_t n)
{
	if (n == 0)
		return NULL;
	Shoal__ChunkRef **ptrs = calloc(n, sizeof(*ptrs));
	Shoal__ChunkRef *pbs = calloc(n, sizeof(*pbs));
	if (!ptrs || !pbs) {
		free(ptrs);
		free(pbs);
		return NULL;
	}
	for (size_t i = 0; i < n; i++) {
		shoal__chunk_ref__init(&pbs[i]);
		pbs[i].id.data = (uint8_t *)refs[i].id;
		pbs[i].id.len = CHUNK_ID_LEN;
		pbs[i].key.data = (uint8_t *)refs[i].key;
		pbs[i].key.len = CHUNK_KEY_LEN;
		pbs[i].size = refs[i].size;
		ptrs[i] = &pbs[i];
	}
	return ptrs;
}

static void refs_pb_free(Shoal__ChunkRef **ptrs)
{
	if (ptrs)
		free(ptrs[0]);
	free(ptrs);
}

static int ref_from_pb(struct chunk_ref *out, const Shoal__ChunkRef *pb)
{
	if (!pb || pb->id.len != CHUNK_ID_LEN || pb->key.len != CHUNK_KEY_LEN)
		return SHOAL_EPROTO;
	if (pb->size == 0 || pb->size > CHUNK_SIZE_MAX)
		return SHOAL_EPROTO;
	memcpy(out->id, pb->id.data, CHUNK_ID_LEN);
	memcpy(out->key, pb->key.data, CHUNK_KEY_LEN);
	out->size = pb->size;
	return 0;
}

static int refs_from_pb(struct chunk_ref **out, Shoal__ChunkRef **pbs, size_t n)
{
	*out = NULL;
	if (n == 0)
		return 0;
	struct chunk_ref *refs = calloc(n, sizeof(*refs));
	if (!refs)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		int err = ref_from_pb(&refs[i], pbs[i]);
		if (err) {
			free(refs);
			return err;
		}
	}
	*out = refs;
	return 0;
}

static int manifest_check(const struct manifest *m)
{
	if (m->kind != MANIFEST_FILE)
		return SHOAL_EVERSION;
	if (m->mode > 07777)
		return SHOAL_EPROTO;
	if (m->nchunks && m->nlists)
		return SHOAL_EPROTO;
	if (m->nchunks > MANIFEST_INLINE_MAX || m->nlists > MANIFEST_LISTS_MAX)
		return SHOAL_ETOOBIG;
	if (m->nlists) {
		/* Every listed chunk holds at least one byte. */
		if (m->size == 0)
			return SHOAL_EPROTO;
		return 0;
	}
	uint64_t sum = 0;
	for (size_t i = 0; i < m->nchunks; i++) {
		if (m->chunks[i].size == 0 || m->chunks[i].size > CHUNK_SIZE_MAX)
			return SHOAL_EPROTO;
		sum += m->chunks[i].size;
	}
	return sum == m->size ? 0 : SHOAL_EPROTO;
}

int manifest_encode(const struct manifest *m, struct buf *out)
{
	int err = manifest_check(m);
	if (err)
		return err;
	Shoal__Manifest pb = SHOAL__MANIFEST__INIT;
	pb.version = MANIFEST_VERSION;
	pb.hash = SHOAL__HASH_ALG__HASH_ALG_SHA256;
	pb.kind = (Shoal__EntryKind)m->kind;
	pb.size = m->size;
	pb.mode = m->mode;
	pb.mtime = m->mtime;
	pb.n_chunks = m->nchunks;
	pb.chunks = refs_to_pb(m->chunks, m->nchunks);
	pb.n_lists = m->nlists;
	pb.lists = refs_to_pb(m->lists, m->nlists);
	if ((m->nchunks && !pb.chunks) || (m->nlists && !pb.lists)) {
		err = -ENOMEM;
		goto out;
	}
	size_t len = shoal__manifest__get_packed_size(&pb);
	buf_grow(out, len);
	shoal__manifest__pack(&pb, out->data + out->len);
	buf_setlen(out, out->len + len);
out:
	refs_pb_free(pb.chunks);
	refs_pb_free(pb.lists);
	return err;
}

int manifest_decode(struct manifest *m, const uint8_t *p, size_t n)
{
	memset(m, 0, sizeof(*m));
	if (n > CHUNK_SIZE_MAX)
		return SHOAL_ETOOBIG;
	struct budget b;
	budget_init(&b);
	Shoal__Manifest *pb = shoal__manifest__unpack(&b.a, n, p);
	if (!pb)
		return SHOAL_EPROTO;
	int err = SHOAL_EVERSION;
	if (pb->version != MANIFEST_VERSION || pb->hash != SHOAL__HASH_ALG__HASH_ALG_SHA256)
		goto out;
	err = SHOAL_EPROTO;
	if (pb->kind != SHOAL__ENTRY_KIND__ENTRY_KIND_FILE &&
	    pb->kind != SHOAL__ENTRY_KIND__ENTRY_KIND_DIRECTORY)
		goto out;
	if (pb->n_chunks > MANIFEST_INLINE_MAX || pb->n_lists > MANIFEST_LISTS_MAX) {
		err = SHOAL_ETOOBIG;
		goto out;
	}
	m->kind = (enum manifest_kind)pb->kind;
	m->size = pb->size;
	m->mode = pb->mode;
	m->mtime = pb->mtime;
	err = refs_from_pb(&m->chunks, pb->chunks, pb->n_chunks);
	if (err)
		goto out;
	m->nchunks = pb->n_chunks;
	err = refs_from_pb(&m->lists, pb->lists, pb->n_lists);
	if (err)
		goto out;
	m->nlists = pb->n_lists;
	err = manifest_check(m);
out:
	shoal__manifest__free_unpacked(pb, &b.a);
	if (err)
		manifest_release(m);
	return err;
}

int chunklist_encode(const struct chunk_ref *refs, size_t n, struct buf *out)
{
	if (n == 0 || n > CHUNKLIST_MAX)
		return SHOAL_EPROTO;
	Shoal__ChunkList pb = SHOAL__CHUNK_LIST__INIT;
	pb.n_chunks = n;
	pb.chunks = refs_to_pb(refs, n);
	if (!pb.chunks)
		return -ENOMEM;
	size_t len = shoal__chunk_list__get_packed_size(&pb);
	buf_grow(out, len);
	shoal__chunk_list__pack(&pb, out->data + out->len);
	buf_setlen(out, out->len + len);
	refs_pb_free(pb.chunks);
	return 0;
}

int chunklist_decode(const uint8_t *p, size_t n, struct chunk_ref **refs, size_t *count)
{
	*refs = NULL;
	*count = 0;
	if (n > CHUNK_SIZE_MAX)
		return SHOAL_ETOOBIG;
	struct budget b;
	budget_init(&b);
	Shoal__ChunkList *pb = shoal__chunk_list__unpack(&b.a, n, p);
	if (!pb)
		return SHOAL_EPROTO;
	int err = SHOAL_EPROTO;
	if (pb->n_chunks == 0)
		goto out;
	if (pb->n_chunks > CHUNKLIST_MAX) {
		err = SHOAL_ETOOBIG;
		goto out;
	}
	err = refs_from_pb(refs, pb->chunks, pb->n_chunks);
	if (!err)
		*count = pb->n_chunks;
out:
	shoal__chunk_list__free_unpacked(pb, &b.a);
	return err;
}
