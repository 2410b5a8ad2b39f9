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

#include "proto/name.h"
#include "proto/shoal.pb-c.h"
#include "util/error.h"

/*
 * protobuf-c materialises every repeated entry before our limits are checked,
 * so a hostile 4 MiB manifest of empty entries could make it allocate
 * hundreds of MiB. Decoding therefore draws from a byte budget: a full valid
 * manifest (16384 refs) needs about 3 MiB; a directory entry costs about
 * 110 bytes plus its path (protobuf-c's bookkeeping included), so the budget,
 * not MANIFEST_ENTRIES_MAX, is what bounds a listing in practice.
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
	free(m->entries);
	free(m->paths);
	free(m->listing);
	memset(m, 0, sizeof(*m));
}

/* Whether protobuf-c can unpack p[0..n) within the decode budget. */
static int fits_budget(const uint8_t *p, size_t n)
{
	struct budget b;
	budget_init(&b);
	Shoal__Manifest *pb = shoal__manifest__unpack(&b.a, n, p);
	if (!pb)
		return 0;
	shoal__manifest__free_unpacked(pb, &b.a);
	return 1;
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

/* Checks an entry's path: 1..MANIFEST_PATH_MAX bytes, at most
 * MANIFEST_DEPTH_MAX components, each a valid name. */
static int path_check(const char *path, size_t len)
{
	if (len == 0 || len > MANIFEST_PATH_MAX)
		return SHOAL_EPROTO;
	size_t depth = 0;
	for (size_t start = 0; start <= len;) {
		const char *slash = memchr(path + start, '/', len - start);
		size_t end = slash ? (size_t)(slash - path) : len;
		if (name_validate(path + start, end - start) || ++depth > MANIFEST_DEPTH_MAX)
			return SHOAL_EPROTO;
		start = end + 1;
	}
	return 0;
}

static int path_order(const void *a, const void *b, void *arg)
{
	const struct dir_entry *e = arg;
	return strcmp(e[*(const uint32_t *)a].path, e[*(const uint32_t *)b].path);
}

/* Finds the entry whose path is key[0..len) in e ordered by sorted[0..n);
 * returns its index or -1. */
static long path_find(const struct dir_entry *e, const uint32_t *sorted, size_t n, const char *key,
		      size_t len)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const char *path = e[sorted[mid]].path;
		int c = strncmp(key, path, len);
		if (c == 0 && path[len])
			c = -1; /* key is a proper prefix of path */
		if (c == 0)
			return (long)sorted[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return -1;
}

/* The directory rules of manifest.h for e[0..n) of a tree holding size bytes. */
static int entries_check(const struct dir_entry *e, size_t n, uint64_t size)
{
	if (n > MANIFEST_ENTRIES_MAX)
		return SHOAL_ETOOBIG;
	uint64_t sum = 0;
	for (size_t i = 0; i < n; i++) {
		if (!e[i].path || e[i].mode > 07777 || e[i].mtime_ns >= MANIFEST_NS_MAX ||
		    e[i].target || e[i].link)
			return SHOAL_EPROTO;
		if (e[i].kind == MANIFEST_DIRECTORY) {
			if (e[i].size)
				return SHOAL_EPROTO;
		} else if (e[i].kind != MANIFEST_FILE || e[i].size > UINT64_MAX - sum) {
			return SHOAL_EPROTO;
		}
		sum += e[i].size;
		int err = path_check(e[i].path, strlen(e[i].path));
		if (err)
			return err;
	}
	if (sum != size)
		return SHOAL_EPROTO;
	if (n == 0)
		return 0;
	/* Uniqueness and parents: sort by path, then look each parent up. */
	uint32_t *sorted = malloc(n * sizeof(*sorted));
	if (!sorted)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		sorted[i] = (uint32_t)i;
	qsort_r(sorted, n, sizeof(*sorted), path_order, (void *)e);
	int err = 0;
	for (size_t i = 1; !err && i < n; i++) {
		if (!strcmp(e[sorted[i - 1]].path, e[sorted[i]].path))
			err = SHOAL_EPROTO;
	}
	for (size_t i = 0; !err && i < n; i++) {
		const char *slash = strrchr(e[i].path, '/');
		if (!slash)
			continue;
		long parent = path_find(e, sorted, n, e[i].path, (size_t)(slash - e[i].path));
		if (parent < 0 || (size_t)parent >= i || e[parent].kind != MANIFEST_DIRECTORY)
			err = SHOAL_EPROTO;
	}
	free(sorted);
	return err;
}

static int manifest_check(const struct manifest *m)
{
	if (m->kind != MANIFEST_FILE && m->kind != MANIFEST_DIRECTORY)
		return SHOAL_EPROTO;
	if (m->version == MANIFEST_VERSION_LISTED) {
		if (m->kind != MANIFEST_DIRECTORY || m->nentries)
			return SHOAL_EPROTO;
		if (m->nlisting > MANIFEST_LISTS_MAX || m->entry_count > MANIFEST_LISTED_MAX)
			return SHOAL_ETOOBIG;
		/* Every listing chunk holds at least one entry. */
		if (!m->entry_count != !m->nlisting || m->nlisting > m->entry_count)
			return SHOAL_EPROTO;
		for (size_t i = 0; i < m->nlisting; i++) {
			if (m->listing[i].size == 0 || m->listing[i].size > CHUNK_SIZE_MAX)
				return SHOAL_EPROTO;
		}
	} else if (m->version > MANIFEST_VERSION || m->nlisting || m->entry_count) {
		return SHOAL_EPROTO;
	}
	if (m->kind == MANIFEST_FILE && m->nentries)
		return SHOAL_EPROTO;
	if (m->mode > 07777 || m->mtime_ns >= MANIFEST_NS_MAX)
		return SHOAL_EPROTO;
	if (m->nchunks && m->nlists)
		return SHOAL_EPROTO;
	if (m->nchunks > MANIFEST_INLINE_MAX || m->nlists > MANIFEST_LISTS_MAX)
		return SHOAL_ETOOBIG;
	if (m->nlists) {
		/* Every listed chunk holds at least one byte. */
		if (m->size == 0)
			return SHOAL_EPROTO;
	} else {
		uint64_t sum = 0;
		for (size_t i = 0; i < m->nchunks; i++) {
			if (m->chunks[i].size == 0 || m->chunks[i].size > CHUNK_SIZE_MAX)
				return SHOAL_EPROTO;
			sum += m->chunks[i].size;
		}
		if (sum != m->size)
			return SHOAL_EPROTO;
	}
	if (m->kind == MANIFEST_DIRECTORY && m->version != MANIFEST_VERSION_LISTED)
		return entries_check(m->entries, m->nentries, m->size);
	return 0;
}

/* Fills pb entries borrowing from e[0..n); NULL when out of memory. */
static Shoal__DirEntry **entries_to_pb(const struct dir_entry *e, size_t n)
{
	Shoal__DirEntry **ptrs = calloc(n, sizeof(*ptrs));
	Shoal__DirEntry *pbs = calloc(n, sizeof(*pbs));
	if (!ptrs || !pbs) {
		free(ptrs);
		free(pbs);
		return NULL;
	}
	for (size_t i = 0; i < n; i++) {
		shoal__dir_entry__init(&pbs[i]);
		pbs[i].path = e[i].path;
		pbs[i].kind = (Shoal__EntryKind)e[i].kind;
		pbs[i].mode = e[i].mode;
		pbs[i].mtime = e[i].mtime;
		pbs[i].mtime_ns = e[i].mtime_ns;
		pbs[i].size = e[i].size;
		ptrs[i] = &pbs[i];
	}
	return ptrs;
}

static void entries_pb_free(Shoal__DirEntry **ptrs)
{
	if (ptrs)
		free(ptrs[0]);
	free(ptrs);
}

/* Appends pb packed to out when it fits a chunk and, for directories, the
 * decode budget; else SHOAL_ETOOBIG and nothing appended. */
static int pack_checked(const Shoal__Manifest *pb, struct buf *out)
{
	size_t len = shoal__manifest__get_packed_size(pb);
	if (len > CHUNK_SIZE_MAX)
		return SHOAL_ETOOBIG;
	size_t old = out->len;
	buf_grow(out, len);
	shoal__manifest__pack(pb, out->data + old);
	buf_setlen(out, old + len);
	if (pb->n_entries && !fits_budget(out->data + old, len)) {
		buf_setlen(out, old);
		return SHOAL_ETOOBIG;
	}
	return 0;
}

int manifest_encode(const struct manifest *m, struct buf *out)
{
	int err = manifest_check(m);
	if (err)
		return err;
	Shoal__Manifest pb = SHOAL__MANIFEST__INIT;
	pb.version =
		m->version == MANIFEST_VERSION_LISTED ? MANIFEST_VERSION_LISTED : MANIFEST_VERSION;
	pb.hash = SHOAL__HASH_ALG__HASH_ALG_SHA256;
	pb.kind = (Shoal__EntryKind)m->kind;
	pb.n_listing = m->nlisting;
	pb.listing = refs_to_pb(m->listing, m->nlisting);
	pb.entry_count = m->entry_count;
	pb.size = m->size;
	pb.mode = m->mode;
	pb.mtime = m->mtime;
	pb.mtime_ns = m->mtime_ns;
	pb.n_chunks = m->nchunks;
	pb.chunks = refs_to_pb(m->chunks, m->nchunks);
	pb.n_lists = m->nlists;
	pb.lists = refs_to_pb(m->lists, m->nlists);
	pb.n_entries = m->nentries;
	pb.entries = m->nentries ? entries_to_pb(m->entries, m->nentries) : NULL;
	if ((m->nchunks && !pb.chunks) || (m->nlists && !pb.lists) ||
	    (m->nentries && !pb.entries) || (m->nlisting && !pb.listing)) {
		err = -ENOMEM;
		goto out;
	}
	err = pack_checked(&pb, out);
out:
	refs_pb_free(pb.chunks);
	refs_pb_free(pb.lists);
	refs_pb_free(pb.listing);
	entries_pb_free(pb.entries);
	return err;
}

int manifest_dir_fits(const struct dir_entry *entries, size_t n, uint64_t size, size_t nrefs)
{
	int err = entries_check(entries, n, size);
	if (err)
		return err;
	if (nrefs > MANIFEST_INLINE_MAX)
		return SHOAL_ETOOBIG;
	/* The largest refs there could be, all one borrowed message. */
	static const uint8_t zero[CHUNK_ID_LEN];
	Shoal__ChunkRef ref = SHOAL__CHUNK_REF__INIT;
	ref.id.data = (uint8_t *)zero;
	ref.id.len = CHUNK_ID_LEN;
	ref.key.data = (uint8_t *)zero;
	ref.key.len = CHUNK_KEY_LEN;
	ref.size = (uint32_t)CHUNK_SIZE_MAX;
	Shoal__Manifest pb = SHOAL__MANIFEST__INIT;
	pb.version = MANIFEST_VERSION;
	pb.kind = SHOAL__ENTRY_KIND__ENTRY_KIND_DIRECTORY;
	pb.size = size;
	pb.mode = 07777;
	pb.mtime = INT64_MIN;
	pb.n_chunks = nrefs;
	pb.chunks = calloc(nrefs ? nrefs : 1, sizeof(*pb.chunks));
	pb.n_entries = n;
	pb.entries = n ? entries_to_pb(entries, n) : NULL;
	struct buf b = BUF_INIT;
	if (!pb.chunks || (n && !pb.entries)) {
		err = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < nrefs; i++)
		pb.chunks[i] = &ref;
	err = pack_checked(&pb, &b);
out:
	buf_release(&b);
	free(pb.chunks);
	entries_pb_free(pb.entries);
	return err;
}

/* Copies the pb entries into m (paths into one block). */
static int entries_from_pb(struct manifest *m, Shoal__DirEntry **pbs, size_t n)
{
	if (n == 0)
		return 0;
	size_t total = 0;
	for (size_t i = 0; i < n; i++) {
		if (!pbs[i] || !pbs[i]->path)
			return SHOAL_EPROTO;
		total += strlen(pbs[i]->path) + 1;
	}
	m->entries = calloc(n, sizeof(*m->entries));
	m->paths = malloc(total);
	if (!m->entries || !m->paths)
		return -ENOMEM;
	char *at = m->paths;
	for (size_t i = 0; i < n; i++) {
		size_t len = strlen(pbs[i]->path) + 1;
		memcpy(at, pbs[i]->path, len);
		m->entries[i] = (struct dir_entry){
			.path = at,
			.kind = (enum manifest_kind)pbs[i]->kind,
			.mode = pbs[i]->mode,
			.mtime = pbs[i]->mtime,
			.mtime_ns = pbs[i]->mtime_ns,
			.size = pbs[i]->size,
		};
		/* An unknown kind must not alias a known one once cast. */
		if (pbs[i]->kind != SHOAL__ENTRY_KIND__ENTRY_KIND_FILE &&
		    pbs[i]->kind != SHOAL__ENTRY_KIND__ENTRY_KIND_DIRECTORY)
			return SHOAL_EPROTO;
		at += len;
	}
	m->nentries = n;
	return 0;
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
	if ((pb->version != MANIFEST_VERSION && pb->version != MANIFEST_VERSION_LISTED) ||
	    pb->hash != SHOAL__HASH_ALG__HASH_ALG_SHA256)
		goto out;
	err = SHOAL_EPROTO;
	if (pb->kind != SHOAL__ENTRY_KIND__ENTRY_KIND_FILE &&
	    pb->kind != SHOAL__ENTRY_KIND__ENTRY_KIND_DIRECTORY)
		goto out;
	if (pb->n_chunks > MANIFEST_INLINE_MAX || pb->n_lists > MANIFEST_LISTS_MAX ||
	    pb->n_entries > MANIFEST_ENTRIES_MAX || pb->n_listing > MANIFEST_LISTS_MAX ||
	    pb->entry_count > MANIFEST_LISTED_MAX) {
		err = SHOAL_ETOOBIG;
		goto out;
	}
	m->version = pb->version;
	m->kind = (enum manifest_kind)pb->kind;
	m->entry_count = pb->entry_count;
	err = refs_from_pb(&m->listing, pb->listing, pb->n_listing);
	if (err)
		goto out;
	m->nlisting = pb->n_listing;
	m->size = pb->size;
	m->mode = pb->mode;
	m->mtime = pb->mtime;
	m->mtime_ns = pb->mtime_ns;
	err = refs_from_pb(&m->chunks, pb->chunks, pb->n_chunks);
	if (err)
		goto out;
	m->nchunks = pb->n_chunks;
	err = refs_from_pb(&m->lists, pb->lists, pb->n_lists);
	if (err)
		goto out;
	m->nlists = pb->n_lists;
	err = entries_from_pb(m, pb->entries, pb->n_entries);
	if (err)
		goto out;
	err = manifest_check(m);
out:
	shoal__manifest__free_unpacked(pb, &b.a);
	if (err)
		manifest_release(m);
	return err;
}

/* ---- version 2 listings ---- */

/* The rules of one listing entry on its own (manifest.h). */
static int record_rules(const struct dir_entry *e)
{
	if (!e->path || e->mode > 07777 || e->mtime_ns >= MANIFEST_NS_MAX)
		return SHOAL_EPROTO;
	int err = path_check(e->path, strnlen(e->path, MANIFEST_PATH_MAX + 1));
	if (err)
		return err;
	if (e->kind != MANIFEST_FILE && (e->size || e->ctime_ns || e->inode))
		return SHOAL_EPROTO;
	if ((e->kind == MANIFEST_SYMLINK) != !!e->target ||
	    (e->kind == MANIFEST_HARDLINK) != !!e->link)
		return SHOAL_EPROTO;
	switch (e->kind) {
	case MANIFEST_FILE:
	case MANIFEST_DIRECTORY:
	case MANIFEST_FIFO:
		return 0;
	case MANIFEST_SYMLINK: {
		size_t len = strnlen(e->target, MANIFEST_PATH_MAX + 1);
		return len == 0 || len > MANIFEST_PATH_MAX ? SHOAL_EPROTO : 0;
	}
	case MANIFEST_HARDLINK:
		err = path_check(e->link, strnlen(e->link, MANIFEST_PATH_MAX + 1));
		return err ? err : (strcmp(e->link, e->path) ? 0 : SHOAL_EPROTO);
	}
	return SHOAL_EPROTO;
}

int manifest_record_encode(const struct dir_entry *e, struct buf *out)
{
	if (record_rules(e))
		return SHOAL_EPROTO;
	Shoal__DirEntry pb = SHOAL__DIR_ENTRY__INIT;
	pb.path = e->path;
	pb.kind = (Shoal__EntryKind)e->kind;
	pb.mode = e->mode;
	pb.mtime = e->mtime;
	pb.mtime_ns = e->mtime_ns;
	pb.size = e->size;
	if (e->target) {
		pb.target.data = (uint8_t *)e->target;
		pb.target.len = strlen(e->target);
	}
	if (e->link)
		pb.link = e->link;
	pb.ctime_ns = e->ctime_ns;
	pb.inode = e->inode;
	size_t len = shoal__dir_entry__get_packed_size(&pb);
	if (len == 0 || len > MANIFEST_RECORD_MAX)
		return SHOAL_EPROTO;
	uint8_t head[10];
	size_t nhead = 0;
	for (size_t v = len; nhead == 0 || v; v >>= 7)
		head[nhead++] = (uint8_t)((v & 0x7f) | (v >> 7 ? 0x80 : 0));
	buf_add(out, head, nhead);
	buf_grow(out, len);
	shoal__dir_entry__pack(&pb, out->data + out->len);
	buf_setlen(out, out->len + len);
	return 0;
}

/* Copies a protobuf string of at most MANIFEST_PATH_MAX bytes into out. */
static int copy_text(char *out, const char *s)
{
	size_t len = s ? strnlen(s, MANIFEST_PATH_MAX + 1) : 0;
	if (len > MANIFEST_PATH_MAX)
		return SHOAL_EPROTO;
	memcpy(out, s ? s : "", len);
	out[len] = 0;
	return 0;
}

int manifest_record_decode(const uint8_t *p, size_t n, size_t *pos, struct dir_entry *e,
			   struct manifest_record_store *store)
{
	size_t at = *pos;
	uint64_t len = 0;
	for (unsigned shift = 0;; shift += 7) {
		/* A record is at most MANIFEST_RECORD_MAX bytes: three varint
		 * bytes say as much, and a fourth is a lie. */
		if (at >= n || shift > 14)
			return SHOAL_EPROTO;
		len |= (uint64_t)(p[at] & 0x7f) << shift;
		if (!(p[at++] & 0x80))
			break;
	}
	if (len == 0 || len > MANIFEST_RECORD_MAX)
		return len ? SHOAL_ETOOBIG : SHOAL_EPROTO;
	if (len > n - at)
		return SHOAL_EPROTO;
	struct budget b;
	budget_init(&b);
	Shoal__DirEntry *pb = shoal__dir_entry__unpack(&b.a, (size_t)len, p + at);
	if (!pb)
		return SHOAL_EPROTO;
	int err = copy_text(store->path, pb->path);
	*e = (struct dir_entry){
		.path = store->path,
		.kind = (enum manifest_kind)pb->kind,
		.mode = pb->mode,
		.mtime = pb->mtime,
		.mtime_ns = pb->mtime_ns,
		.size = pb->size,
		.ctime_ns = pb->ctime_ns,
		.inode = pb->inode,
	};
	if (!err && pb->kind > SHOAL__ENTRY_KIND__ENTRY_KIND_HARDLINK)
		err = SHOAL_EPROTO; /* must not alias a known kind once cast */
	if (!err && pb->target.len) {
		if (pb->target.len > MANIFEST_PATH_MAX ||
		    memchr(pb->target.data, 0, pb->target.len))
			err = SHOAL_EPROTO;
		else {
			memcpy(store->target, pb->target.data, pb->target.len);
			store->target[pb->target.len] = 0;
			e->target = store->target;
		}
	}
	if (!err && pb->link && pb->link[0]) {
		err = copy_text(store->link, pb->link);
		e->link = store->link;
	}
	shoal__dir_entry__free_unpacked(pb, &b.a);
	if (!err)
		err = record_rules(e);
	if (!err)
		*pos = at + (size_t)len;
	return err;
}

void manifest_listing_check_init(struct manifest_listing_check *c)
{
	memset(c, 0, sizeof(*c));
}

/* Bytewise order of two components, as strcmp() orders names. */
static int component_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
	int c = memcmp(a, b, alen < blen ? alen : blen);
	return c ? c : (alen > blen) - (alen < blen);
}

int manifest_listing_check(struct manifest_listing_check *c, const struct dir_entry *e)
{
	if (c->count == MANIFEST_LISTED_MAX)
		return SHOAL_ETOOBIG;
	size_t len = strlen(e->path);
	const char *slash = memrchr(e->path, '/', len);
	size_t plen = slash ? (size_t)(slash - e->path) : 0;
	const char *name = slash ? slash + 1 : e->path;
	size_t nlen = len - (size_t)(name - e->path);
	/* The parent must be open: the root, the previous entry when it is a
	 * directory, or a directory the previous entry lies under. In the last
	 * two cases the child of the parent the previous entry went through
	 * must sort before this one. */
	if (plen == c->prev_len && c->count && !memcmp(e->path, c->prev, plen)) {
		if (!c->prev_dir)
			return SHOAL_EPROTO; /* a child of a non-directory */
	} else if (c->count) {
		if (plen &&
		    (plen >= c->prev_len || memcmp(e->path, c->prev, plen) || c->prev[plen] != '/'))
			return SHOAL_EPROTO; /* parent not listed, or closed */
		const char *sib = c->prev + (plen ? plen + 1 : 0);
		const char *end = memchr(sib, '/', c->prev_len - (size_t)(sib - c->prev));
		size_t slen = end ? (size_t)(end - sib) : c->prev_len - (size_t)(sib - c->prev);
		if (component_cmp(name, nlen, sib, slen) <= 0)
			return SHOAL_EPROTO; /* out of order or a duplicate */
	} else if (plen) {
		return SHOAL_EPROTO; /* the first entry is a child of the root */
	}
	if (e->size > UINT64_MAX - c->size)
		return SHOAL_EPROTO;
	c->size += e->size;
	memcpy(c->prev, e->path, len + 1);
	c->prev_len = len;
	c->prev_dir = e->kind == MANIFEST_DIRECTORY;
	c->count++;
	return 0;
}

int manifest_listing_check_end(const struct manifest_listing_check *c, uint64_t count,
			       uint64_t size)
{
	return c->count == count && c->size == size ? 0 : SHOAL_EPROTO;
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
