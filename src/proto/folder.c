/*
 * Collaborative folders: invites, keys, version vectors, rows, the conflict
 * rules and signed batches; see folder.h.
 */
#include "proto/folder.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/x509.h>

#include "crypto/hash.h"
#include "proto/catalog.h"
#include "proto/name.h"
#include "util/encoding.h"
#include "util/error.h"

#define CONVERGENCE_INFO "shoal folder convergence v1"
#define INDEX_INFO	 "shoal folder index v1"
#define JOURNAL_INFO	 "shoal folder journal v1"
#define PROOF_DOMAIN	 "shoal folder proof v1"
#define INVITE_BYTES_MAX (FOLDER_ID_LEN + FOLDER_SECRET_LEN + FOLDER_LABEL_MAX + 2)
#define CERT_MAX	 2048 /* an author certificate's DER bytes (the wire's WIRE_CERT_MAX) */
#define CAP_LEN		 (CHUNK_ID_LEN + CHUNK_KEY_LEN)

/* folder_entry_to_pb() hands the capability's bytes as one 64-byte field. */
_Static_assert(sizeof(struct capability) == CAP_LEN, "capability is id || key");
_Static_assert(offsetof(struct capability, key) == CHUNK_ID_LEN, "capability is id || key");

static int refuse(const char **why, const char *text, int err)
{
	if (why)
		*why = text;
	return err;
}

/* ---- invites and keys ---- */

static int label_valid(const char *s, size_t n)
{
	if (n > FOLDER_LABEL_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (s[i] < 0x20 || s[i] > 0x7e || s[i] == '/')
			return 0;
	return 1;
}

int folder_invite_new(struct folder_invite *out, const char *label)
{
	if (!label)
		label = "";
	size_t n = strnlen(label, FOLDER_LABEL_MAX + 1);
	if (!label_valid(label, n))
		return SHOAL_EUSAGE;
	struct folder_invite inv;
	memset(&inv, 0, sizeof(inv));
	int err = random_bytes(inv.id, sizeof(inv.id));
	if (!err)
		err = random_bytes(inv.secret, sizeof(inv.secret));
	if (err) {
		OPENSSL_cleanse(&inv, sizeof(inv));
		return err;
	}
	memcpy(inv.label, label, n);
	*out = inv;
	OPENSSL_cleanse(&inv, sizeof(inv));
	return 0;
}

void folder_invite_format(const struct folder_invite *inv, char out[FOLDER_INVITE_MAX])
{
	uint8_t bytes[INVITE_BYTES_MAX];
	size_t n = strnlen(inv->label, FOLDER_LABEL_MAX);
	memcpy(bytes, inv->id, FOLDER_ID_LEN);
	memcpy(bytes + FOLDER_ID_LEN, inv->secret, FOLDER_SECRET_LEN);
	memcpy(bytes + FOLDER_ID_LEN + FOLDER_SECRET_LEN, inv->label, n);
	if (inv->replicas) {
		bytes[FOLDER_ID_LEN + FOLDER_SECRET_LEN + n++] = 0;
		bytes[FOLDER_ID_LEN + FOLDER_SECRET_LEN + n++] = (uint8_t)inv->replicas;
	}
	size_t prefix = strlen(FOLDER_INVITE_PREFIX);
	memcpy(out, FOLDER_INVITE_PREFIX, prefix);
	base32_encode(out + prefix, bytes, FOLDER_ID_LEN + FOLDER_SECRET_LEN + n);
	OPENSSL_cleanse(bytes, sizeof(bytes));
}

int folder_invite_parse(const char *s, struct folder_invite *out)
{
	size_t prefix = strlen(FOLDER_INVITE_PREFIX);
	size_t len = strnlen(s, FOLDER_INVITE_MAX);
	if (len >= FOLDER_INVITE_MAX || len < prefix || memcmp(s, FOLDER_INVITE_PREFIX, prefix))
		return SHOAL_EPROTO;
	size_t chars = len - prefix;
	size_t n = chars * 5 / 8;
	if (base32_len(n) != chars || n < FOLDER_ID_LEN + FOLDER_SECRET_LEN || n > INVITE_BYTES_MAX)
		return SHOAL_EPROTO;
	uint8_t bytes[INVITE_BYTES_MAX];
	int err = base32_decode(bytes, n, s + prefix, chars);
	const char *label = (const char *)bytes + FOLDER_ID_LEN + FOLDER_SECRET_LEN;
	size_t label_len = n - FOLDER_ID_LEN - FOLDER_SECRET_LEN;
	unsigned replicas = 0;
	const char *nul = memchr(label, 0, label_len);
	if (nul) {
		/* The label ends with a NUL and the replicas byte. */
		if ((size_t)(nul - label) + 2 != label_len || !nul[1] ||
		    (uint8_t)nul[1] > FOLDER_REPLICAS_MAX)
			err = SHOAL_EPROTO;
		replicas = (uint8_t)nul[1];
		label_len = (size_t)(nul - label);
	}
	if (!err && !label_valid(label, label_len))
		err = SHOAL_EPROTO;
	if (!err) {
		memset(out, 0, sizeof(*out));
		memcpy(out->id, bytes, FOLDER_ID_LEN);
		memcpy(out->secret, bytes + FOLDER_ID_LEN, FOLDER_SECRET_LEN);
		memcpy(out->label, label, label_len);
		out->replicas = replicas;
	}
	OPENSSL_cleanse(bytes, sizeof(bytes));
	return err ? SHOAL_EPROTO : 0;
}

void folder_id_format(const uint8_t id[FOLDER_ID_LEN], char out[FOLDER_ID_STR_LEN + 1])
{
	base32_encode(out, id, FOLDER_ID_LEN);
}

int folder_id_parse(const char *s, uint8_t id[FOLDER_ID_LEN])
{
	size_t n = strnlen(s, FOLDER_ID_STR_LEN + 1);
	if (n != FOLDER_ID_STR_LEN)
		return SHOAL_EPROTO;
	return base32_decode(id, FOLDER_ID_LEN, s, n) ? SHOAL_EPROTO : 0;
}

/* HKDF of the secret under "<info> <folder id as text>"; aborts only when
 * OpenSSL itself is broken (as sha256() does). */
static void derive(const struct folder_invite *inv, const char *info, uint8_t *out, size_t len)
{
	char full[64 + FOLDER_ID_STR_LEN + 1];
	char id[FOLDER_ID_STR_LEN + 1];
	folder_id_format(inv->id, id);
	snprintf(full, sizeof(full), "%s %s", info, id);
	if (hkdf_sha256(inv->secret, FOLDER_SECRET_LEN, full, out, len))
		abort();
}

void folder_keys_derive(const struct folder_invite *inv, struct folder_keys *out)
{
	derive(inv, CONVERGENCE_INFO, out->convergence, sizeof(out->convergence));
	derive(inv, INDEX_INFO, out->index, sizeof(out->index));
	derive(inv, JOURNAL_INFO, out->journal, sizeof(out->journal));
}

void folder_proof(const struct folder_keys *keys, const uint8_t id[FOLDER_ID_LEN],
		  const uint8_t from[NODE_ID_LEN], const uint8_t to[NODE_ID_LEN],
		  uint8_t out[SHA256_LEN])
{
	uint8_t msg[sizeof(PROOF_DOMAIN) - 1 + FOLDER_ID_LEN + 2 * NODE_ID_LEN];
	uint8_t *p = msg;
	memcpy(p, PROOF_DOMAIN, sizeof(PROOF_DOMAIN) - 1);
	p += sizeof(PROOF_DOMAIN) - 1;
	memcpy(p, id, FOLDER_ID_LEN);
	p += FOLDER_ID_LEN;
	memcpy(p, from, NODE_ID_LEN);
	p += NODE_ID_LEN;
	memcpy(p, to, NODE_ID_LEN);
	hmac_sha256(keys->index, FOLDER_KEY_LEN, msg, sizeof(msg), out);
}

int folder_proof_check(const struct folder_keys *keys, const uint8_t id[FOLDER_ID_LEN],
		       const uint8_t from[NODE_ID_LEN], const uint8_t to[NODE_ID_LEN],
		       const uint8_t *proof, size_t len)
{
	uint8_t want[SHA256_LEN];
	if (len != SHA256_LEN)
		return 0;
	folder_proof(keys, id, from, to, want);
	return CRYPTO_memcmp(want, proof, SHA256_LEN) == 0;
}

/* ---- version vectors ---- */

uint64_t folder_short_id(const uint8_t node_id[NODE_ID_LEN])
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | node_id[i];
	return v;
}

enum folder_order folder_vv_compare(const struct folder_vv *a, const struct folder_vv *b)
{
	int a_more = 0, b_more = 0; /* some counter of a (b) is above the other's */
	size_t i = 0, j = 0;
	while (i < a->n || j < b->n) {
		if (j == b->n || (i < a->n && a->c[i].id < b->c[j].id)) {
			a_more = 1; /* b's is 0, a's > 0 */
			i++;
		} else if (i == a->n || b->c[j].id < a->c[i].id) {
			b_more = 1;
			j++;
		} else {
			if (a->c[i].value > b->c[j].value)
				a_more = 1;
			else if (a->c[i].value < b->c[j].value)
				b_more = 1;
			i++;
			j++;
		}
	}
	if (a_more && b_more)
		return FOLDER_CONCURRENT;
	if (a_more)
		return FOLDER_AFTER;
	return b_more ? FOLDER_BEFORE : FOLDER_EQUAL;
}

int folder_vv_merge(struct folder_vv *out, const struct folder_vv *a, const struct folder_vv *b)
{
	struct folder_vv r;
	size_t i = 0, j = 0;
	r.n = 0;
	while (i < a->n || j < b->n) {
		if (r.n == FOLDER_VV_MAX)
			return SHOAL_ETOOBIG;
		if (j == b->n || (i < a->n && a->c[i].id < b->c[j].id)) {
			r.c[r.n++] = a->c[i++];
		} else if (i == a->n || b->c[j].id < a->c[i].id) {
			r.c[r.n++] = b->c[j++];
		} else {
			r.c[r.n] = a->c[i];
			if (b->c[j].value > r.c[r.n].value)
				r.c[r.n].value = b->c[j].value;
			r.n++;
			i++;
			j++;
		}
	}
	out->n = r.n;
	memcpy(out->c, r.c, r.n * sizeof(r.c[0]));
	return 0;
}

int folder_vv_bump(struct folder_vv *vv, uint64_t self, uint64_t now)
{
	size_t i = 0;
	while (i < vv->n && vv->c[i].id < self)
		i++;
	if (i < vv->n && vv->c[i].id == self) {
		uint64_t next = vv->c[i].value == UINT64_MAX ? UINT64_MAX : vv->c[i].value + 1;
		vv->c[i].value = next > now ? next : now;
		return 0;
	}
	if (vv->n == FOLDER_VV_MAX)
		return SHOAL_ETOOBIG;
	memmove(&vv->c[i + 1], &vv->c[i], (vv->n - i) * sizeof(vv->c[0]));
	vv->c[i].id = self;
	vv->c[i].value = now > 1 ? now : 1;
	vv->n++;
	return 0;
}

int folder_vv_valid(const struct folder_vv *vv)
{
	if (vv->n > FOLDER_VV_MAX)
		return 0;
	for (size_t i = 0; i < vv->n; i++)
		if (vv->c[i].value == 0 || (i > 0 && vv->c[i - 1].id >= vv->c[i].id))
			return 0;
	return 1;
}

static void put_be64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (56 - 8 * i));
}

static uint64_t get_be64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

size_t folder_vv_encode(const struct folder_vv *vv, uint8_t *out)
{
	for (size_t i = 0; i < vv->n; i++) {
		put_be64(out + 16 * i, vv->c[i].id);
		put_be64(out + 16 * i + 8, vv->c[i].value);
	}
	return 16 * vv->n;
}

int folder_vv_decode(struct folder_vv *vv, const uint8_t *p, size_t len)
{
	if (len % 16 || len / 16 > FOLDER_VV_MAX)
		return SHOAL_EPROTO;
	struct folder_vv r;
	r.n = len / 16;
	for (size_t i = 0; i < r.n; i++) {
		r.c[i].id = get_be64(p + 16 * i);
		r.c[i].value = get_be64(p + 16 * i + 8);
	}
	if (!folder_vv_valid(&r))
		return SHOAL_EPROTO;
	vv->n = r.n;
	memcpy(vv->c, r.c, r.n * sizeof(r.c[0]));
	return 0;
}

/* ---- rows ---- */

static int path_check(const char *path, const char **why)
{
	size_t len = strnlen(path, FOLDER_PATH_MAX + 1);
	if (len == 0 || len > FOLDER_PATH_MAX)
		return refuse(why, "path empty or too long", SHOAL_EPROTO);
	const char *p = path;
	for (;;) {
		const char *slash = memchr(p, '/', len - (size_t)(p - path));
		size_t n = slash ? (size_t)(slash - p) : len - (size_t)(p - path);
		if (name_validate(p, n))
			return refuse(why, "path with an invalid component", SHOAL_EPROTO);
		if (p == path && n == strlen(".shoal") && !memcmp(p, ".shoal", n))
			return refuse(why, "path in .shoal", SHOAL_EPROTO);
		if (!slash)
			return 0;
		p = slash + 1;
	}
}

int folder_entry_check(const struct folder_entry *e, const char **why)
{
	int err = path_check(e->path, why);
	if (err)
		return err;
	if (e->kind != FOLDER_FILE && e->kind != FOLDER_DIR && e->kind != FOLDER_SYMLINK)
		return refuse(why, "unknown kind", SHOAL_EPROTO);
	if (!folder_vv_valid(&e->vv) || e->vv.n == 0)
		return refuse(why, "version vector empty or breaking the rules", SHOAL_EPROTO);
	size_t i = 0;
	while (i < e->vv.n && e->vv.c[i].id != e->modified_by)
		i++;
	if (i == e->vv.n)
		return refuse(why, "modified_by not in the version vector", SHOAL_EPROTO);
	if (e->kind == FOLDER_FILE && !e->deleted && !e->has_content)
		return refuse(why, "a file without content", SHOAL_EPROTO);
	if (e->kind != FOLDER_FILE && e->has_content)
		return refuse(why, "content on a directory or link", SHOAL_EPROTO);
	size_t tlen = strnlen(e->target, FOLDER_PATH_MAX + 1);
	if (tlen > FOLDER_PATH_MAX)
		return refuse(why, "link target too long", SHOAL_EPROTO);
	if (e->kind == FOLDER_SYMLINK && !e->deleted && tlen == 0)
		return refuse(why, "a link without target", SHOAL_EPROTO);
	if (e->kind != FOLDER_SYMLINK && tlen != 0)
		return refuse(why, "a target on a file or directory", SHOAL_EPROTO);
	if (e->mode > 0777)
		return refuse(why, "mode beyond 0777", SHOAL_EPROTO);
	if (e->seq == 0)
		return refuse(why, "seq 0", SHOAL_EPROTO);
	return 0;
}

int folder_entry_from_pb(struct folder_entry *e, const Shoal__FolderEntry *m, const char **why)
{
	size_t plen = m->path ? strnlen(m->path, FOLDER_PATH_MAX + 1) : 0;
	if (plen > FOLDER_PATH_MAX)
		return refuse(why, "path too long", SHOAL_EPROTO);
	if (m->n_version > FOLDER_VV_MAX)
		return refuse(why, "too many counters", SHOAL_EPROTO);
	if ((m->content_id.len != 0 && m->content_id.len != SHA256_LEN) ||
	    (m->manifest.len != 0 && m->manifest.len != CAP_LEN) ||
	    (m->content_id.len == 0) != (m->manifest.len == 0))
		return refuse(why, "content_id or manifest of the wrong length", SHOAL_EPROTO);
	if (m->prev_content_id.len != 0 && m->prev_content_id.len != SHA256_LEN)
		return refuse(why, "prev_content_id of the wrong length", SHOAL_EPROTO);
	if (m->target.len > FOLDER_PATH_MAX ||
	    (m->target.len && memchr(m->target.data, 0, m->target.len)))
		return refuse(why, "bad link target", SHOAL_EPROTO);
	memset(e, 0, sizeof(*e));
	memcpy(e->path, m->path ? m->path : "", plen);
	e->kind = (enum folder_kind)m->kind;
	e->vv.n = m->n_version;
	for (size_t i = 0; i < m->n_version; i++) {
		e->vv.c[i].id = m->version[i]->id;
		e->vv.c[i].value = m->version[i]->value;
	}
	if (!folder_vv_valid(&e->vv))
		return refuse(why, "version vector breaking the rules", SHOAL_EPROTO);
	e->modified_by = m->modified_by;
	if (m->content_id.len) {
		e->has_content = 1;
		memcpy(e->content_id, m->content_id.data, SHA256_LEN);
		memcpy(e->cap.id, m->manifest.data, CHUNK_ID_LEN);
		memcpy(e->cap.key, m->manifest.data + CHUNK_ID_LEN, CHUNK_KEY_LEN);
	}
	e->size = m->size;
	e->mode = m->mode;
	e->mtime_ns = m->mtime_ns;
	e->deleted = m->deleted ? 1 : 0;
	if (m->prev_content_id.len) {
		e->has_prev = 1;
		memcpy(e->prev_content_id, m->prev_content_id.data, SHA256_LEN);
	}
	e->seq = m->seq;
	if (m->target.len)
		memcpy(e->target, m->target.data, m->target.len);
	return folder_entry_check(e, why);
}

void folder_entry_to_pb(const struct folder_entry *e, Shoal__FolderEntry *m,
			struct folder_entry_pb *store)
{
	shoal__folder_entry__init(m);
	m->path = (char *)e->path;
	m->kind = (Shoal__EntryKind)e->kind;
	size_t n = e->vv.n <= FOLDER_VV_MAX ? e->vv.n : FOLDER_VV_MAX;
	for (size_t i = 0; i < n; i++) {
		shoal__folder_counter__init(&store->counters[i]);
		store->counters[i].id = e->vv.c[i].id;
		store->counters[i].value = e->vv.c[i].value;
		store->counter_ptrs[i] = &store->counters[i];
	}
	m->version = store->counter_ptrs;
	m->n_version = n;
	m->modified_by = e->modified_by;
	if (e->has_content) {
		m->content_id.data = (uint8_t *)e->content_id;
		m->content_id.len = SHA256_LEN;
		m->manifest.data = (uint8_t *)&e->cap;
		m->manifest.len = CAP_LEN;
	}
	m->size = e->size;
	m->mode = e->mode;
	m->mtime_ns = e->mtime_ns;
	m->deleted = e->deleted ? 1 : 0;
	if (e->has_prev) {
		m->prev_content_id.data = (uint8_t *)e->prev_content_id;
		m->prev_content_id.len = SHA256_LEN;
	}
	m->seq = e->seq;
	m->target.data = (uint8_t *)e->target;
	m->target.len = strnlen(e->target, FOLDER_PATH_MAX);
}

/* ---- conflicts ---- */

/* Both rows live with the same outcome on disk. */
static int same_outcome(const struct folder_entry *a, const struct folder_entry *b)
{
	if (a->kind != b->kind)
		return 0;
	switch (a->kind) {
	case FOLDER_FILE:
		return a->has_content && b->has_content &&
		       !memcmp(a->content_id, b->content_id, SHA256_LEN);
	case FOLDER_SYMLINK:
		return !strcmp(a->target, b->target);
	default:
		return 1;
	}
}

/* b was based on exactly a's content: a live with content, b's prev that. */
static int based_on(const struct folder_entry *b, const struct folder_entry *a)
{
	return b->has_prev && !a->deleted && a->has_content &&
	       !memcmp(b->prev_content_id, a->content_id, SHA256_LEN);
}

/* > 0 when a wins a conflict against b, < 0 when b does, 0 when the rows
 * cannot be told apart by what the rules look at. */
static int conflict_rank(const struct folder_entry *a, const struct folder_entry *b)
{
	static const uint8_t none[SHA256_LEN];
	if (a->deleted != b->deleted)
		return a->deleted ? -1 : 1;
	if (a->mtime_ns != b->mtime_ns)
		return a->mtime_ns > b->mtime_ns ? 1 : -1;
	if (a->modified_by != b->modified_by)
		return a->modified_by > b->modified_by ? 1 : -1;
	int c = memcmp(a->has_content ? a->content_id : none, b->has_content ? b->content_id : none,
		       SHA256_LEN);
	if (c)
		return c;
	if (a->kind != b->kind)
		return a->kind > b->kind ? 1 : -1;
	return strcmp(a->target, b->target);
}

enum folder_decision folder_decide(const struct folder_entry *ours,
				   const struct folder_entry *theirs)
{
	switch (folder_vv_compare(&ours->vv, &theirs->vv)) {
	case FOLDER_EQUAL:
	case FOLDER_AFTER:
		return FOLDER_KEEP;
	case FOLDER_BEFORE:
		return FOLDER_TAKE;
	case FOLDER_CONCURRENT:
		break;
	}
	if (ours->deleted && theirs->deleted)
		return FOLDER_MERGE;
	if (!ours->deleted && !theirs->deleted && same_outcome(ours, theirs))
		return FOLDER_MERGE;
	int take = based_on(theirs, ours), keep = based_on(ours, theirs);
	if (take && !keep)
		return FOLDER_TAKE;
	if (keep && !take)
		return FOLDER_KEEP;
	return conflict_rank(theirs, ours) > 0 ? FOLDER_CONFLICT_THEIRS : FOLDER_CONFLICT_OURS;
}

int folder_conflict_name(const struct folder_entry *loser, char out[FOLDER_PATH_MAX + 1])
{
	static const uint8_t none[SHA256_LEN];
	const char *path = loser->path;
	size_t len = strnlen(path, FOLDER_PATH_MAX + 1);
	if (len > FOLDER_PATH_MAX)
		return SHOAL_ETOOBIG;
	const char *slash = memrchr(path, '/', len);
	size_t base = slash ? (size_t)(slash - path) + 1 : 0; /* the last component's start */
	const char *dot = memrchr(path + base, '.', len - base);
	size_t ext = dot && dot != path + base ? (size_t)(dot - path) : len;

	int64_t secs = loser->mtime_ns / 1000000000;
	if (loser->mtime_ns % 1000000000 < 0)
		secs--;
	time_t t = (time_t)secs;
	struct tm tm;
	if (!gmtime_r(&t, &tm))
		return SHOAL_ETOOBIG;
	const uint8_t *cid = loser->has_content ? loser->content_id : none;
	char mark[64];
	int m = snprintf(mark, sizeof(mark),
			 FOLDER_CONFLICT_MARK "%04d%02d%02d-%02d%02d%02d-%08x-%02x%02x%02x",
			 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
			 tm.tm_sec, (unsigned)(loser->modified_by >> 32), cid[0], cid[1], cid[2]);
	if (m < 0 || (size_t)m >= sizeof(mark))
		return SHOAL_ETOOBIG;
	size_t total = len + (size_t)m;
	if (total > FOLDER_PATH_MAX || total - base > NAME_MAX_LEN)
		return SHOAL_ETOOBIG;
	memcpy(out, path, ext);
	memcpy(out + ext, mark, (size_t)m);
	memcpy(out + ext + m, path + ext, len - ext);
	out[total] = '\0';
	return 0;
}

/* n decimal digits (hex when hex) at p. */
static int digits(const char *p, size_t n, int hex)
{
	for (size_t i = 0; i < n; i++) {
		char c = p[i];
		if (!(c >= '0' && c <= '9') && !(hex && c >= 'a' && c <= 'f'))
			return 0;
	}
	return 1;
}

int folder_is_conflict_name(const char *path)
{
	const char *name = strrchr(path, '/');
	name = name ? name + 1 : path;
	size_t mark = strlen(FOLDER_CONFLICT_MARK);
	/* ".conflict-YYYYMMDD-HHMMSS-xxxxxxxx-xxxxxx", then the end or '.'. */
	for (const char *p = strstr(name, FOLDER_CONFLICT_MARK); p;
	     p = strstr(p + 1, FOLDER_CONFLICT_MARK)) {
		const char *q = p + mark;
		if (strnlen(q, 31) == 31 && digits(q, 8, 0) && q[8] == '-' && digits(q + 9, 6, 0) &&
		    q[15] == '-' && digits(q + 16, 8, 1) && q[24] == '-' && digits(q + 25, 6, 1) &&
		    (q[31] == '\0' || q[31] == '.'))
			return 1;
	}
	return 0;
}

/* ---- batches ---- */

/* The batch's hash: SHA-256 of m packed with an empty signature. 0 or
 * -ENOMEM. */
static int batch_hash(const Shoal__FolderBatch *m, uint8_t hash[SHA256_LEN])
{
	Shoal__FolderBatch copy = *m;
	copy.signature.data = NULL;
	copy.signature.len = 0;
	size_t n = shoal__folder_batch__get_packed_size(&copy);
	uint8_t *p = malloc(n ? n : 1);
	if (!p)
		return -ENOMEM;
	shoal__folder_batch__pack(&copy, p);
	sha256(p, n, hash);
	free(p);
	return 0;
}

static void signed_bytes(const uint8_t hash[SHA256_LEN],
			 uint8_t out[sizeof(FOLDER_DOMAIN) + SHA256_LEN])
{
	memcpy(out, FOLDER_DOMAIN, sizeof(FOLDER_DOMAIN)); /* with its NUL */
	memcpy(out + sizeof(FOLDER_DOMAIN), hash, SHA256_LEN);
}

int folder_batch_sign(const uint8_t folder_id[FOLDER_ID_LEN], EVP_PKEY *key, const uint8_t *cert,
		      size_t cert_len, uint64_t index_id, const uint8_t prev_hash[SHA256_LEN],
		      int64_t time_us, const struct folder_entry *rows, size_t n, struct buf *out,
		      uint8_t hash[SHA256_LEN])
{
	return folder_batch_sign_flags(folder_id, key, cert, cert_len, index_id, prev_hash, time_us,
				       0, rows, n, out, hash);
}

int folder_batch_sign_flags(const uint8_t folder_id[FOLDER_ID_LEN], EVP_PKEY *key,
			    const uint8_t *cert, size_t cert_len, uint64_t index_id,
			    const uint8_t prev_hash[SHA256_LEN], int64_t time_us, uint32_t flags,
			    const struct folder_entry *rows, size_t n, struct buf *out,
			    uint8_t hash[SHA256_LEN])
{
	if (n > FOLDER_BATCH_ENTRIES_MAX)
		return SHOAL_ETOOBIG;
	if (n == 0 || cert_len == 0 || cert_len > CERT_MAX)
		return SHOAL_EUSAGE;
	for (size_t i = 0; i < n; i++)
		if (folder_entry_check(&rows[i], NULL) || (i > 0 && rows[i].seq <= rows[i - 1].seq))
			return SHOAL_EUSAGE;

	Shoal__FolderEntry *pe = calloc(n, sizeof(*pe));
	Shoal__FolderEntry **pp = calloc(n, sizeof(*pp));
	struct folder_entry_pb *store = calloc(n, sizeof(*store));
	uint8_t sig[IDENTITY_SIG_LEN] = {0};
	int err = 0;
	if (!pe || !pp || !store) {
		err = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		folder_entry_to_pb(&rows[i], &pe[i], &store[i]);
		pp[i] = &pe[i];
	}
	Shoal__FolderBatch m = SHOAL__FOLDER_BATCH__INIT;
	m.folder_id.data = (uint8_t *)folder_id;
	m.folder_id.len = FOLDER_ID_LEN;
	m.author_cert.data = (uint8_t *)cert;
	m.author_cert.len = cert_len;
	m.index_id = index_id;
	m.prev_hash.data = (uint8_t *)prev_hash;
	m.prev_hash.len = SHA256_LEN;
	m.time = time_us;
	m.flags = flags;
	m.entries = pp;
	m.n_entries = n;
	m.signature.data = sig;
	m.signature.len = IDENTITY_SIG_LEN;
	size_t len = shoal__folder_batch__get_packed_size(&m); /* the signed size */
	if (len > FOLDER_BATCH_MAX) {
		err = SHOAL_ETOOBIG;
		goto out;
	}
	uint8_t h[SHA256_LEN], bytes[sizeof(FOLDER_DOMAIN) + SHA256_LEN];
	err = batch_hash(&m, h);
	if (err)
		goto out;
	signed_bytes(h, bytes);
	err = identity_sign(key, bytes, sizeof(bytes), sig);
	if (err)
		goto out;
	buf_reset(out);
	buf_grow(out, len);
	shoal__folder_batch__pack(&m, out->data);
	buf_setlen(out, len);
	memcpy(hash, h, SHA256_LEN);
out:
	free(pe);
	free(pp);
	free(store);
	return err;
}

/* The shape of m, its rows included: everything but the certificate and
 * the signature. Fills b's numbers. */
static int batch_shape(const Shoal__FolderBatch *m, const uint8_t folder_id[FOLDER_ID_LEN],
		       struct folder_batch *b, const char **why)
{
	if (m->folder_id.len != FOLDER_ID_LEN ||
	    memcmp(m->folder_id.data, folder_id, FOLDER_ID_LEN))
		return refuse(why, "batch of another folder", SHOAL_EPROTO);
	if (m->author_cert.len == 0 || m->author_cert.len > CERT_MAX)
		return refuse(why, "author certificate missing or too long", SHOAL_EPROTO);
	if (m->prev_hash.len != SHA256_LEN)
		return refuse(why, "prev_hash not 32 bytes", SHOAL_EPROTO);
	if (m->signature.len != IDENTITY_SIG_LEN)
		return refuse(why, "signature not 64 bytes", SHOAL_EPROTO);
	if (m->n_entries == 0)
		return refuse(why, "batch without rows", SHOAL_EPROTO);
	if (m->n_entries > FOLDER_BATCH_ENTRIES_MAX)
		return refuse(why, "too many rows in a batch", SHOAL_ETOOBIG);
	struct folder_entry *e = malloc(sizeof(*e));
	if (!e)
		return -ENOMEM;
	int err = 0;
	for (size_t i = 0; i < m->n_entries && !err; i++) {
		err = folder_entry_from_pb(e, m->entries[i], why);
		if (!err && i > 0 && e->seq <= b->last_seq)
			err = refuse(why, "rows' seq not increasing", SHOAL_EPROTO);
		if (i == 0)
			b->first_seq = e->seq;
		b->last_seq = e->seq;
	}
	free(e);
	if (err)
		return err;
	memcpy(b->prev_hash, m->prev_hash.data, SHA256_LEN);
	b->index_id = m->index_id;
	b->time_us = m->time;
	b->flags = m->flags;
	return 0;
}

int folder_batch_open(const uint8_t *data, size_t len, const uint8_t folder_id[FOLDER_ID_LEN],
		      X509 *ca, struct folder_batch *out, const char **why)
{
	if (len > FOLDER_BATCH_MAX)
		return refuse(why, "batch too large", SHOAL_ETOOBIG);
	Shoal__FolderBatch *m = shoal__folder_batch__unpack(NULL, len, data);
	if (!m)
		return refuse(why, "batch does not unpack", SHOAL_EPROTO);
	struct folder_batch b;
	memset(&b, 0, sizeof(b));
	X509 *cert = NULL;
	uint8_t bytes[sizeof(FOLDER_DOMAIN) + SHA256_LEN];
	int err = batch_shape(m, folder_id, &b, why);
	if (err)
		goto out;
	if (catalog_cert_check(ca, m->author_cert.data, m->author_cert.len, &cert, b.author)) {
		err = refuse(why, "certificate not issued by this network (or expired)",
			     SHOAL_EIDENTITY);
		goto out;
	}
	err = batch_hash(m, b.hash);
	if (err)
		goto out;
	signed_bytes(b.hash, bytes);
	if (identity_verify_signature(cert, bytes, sizeof(bytes), m->signature.data)) {
		err = refuse(why, "bad signature", SHOAL_EIDENTITY);
		goto out;
	}
	b.msg = m;
	m = NULL;
	*out = b;
out:
	X509_free(cert);
	if (m)
		shoal__folder_batch__free_unpacked(m, NULL);
	return err;
}

int folder_batch_row(const struct folder_batch *b, size_t i, struct folder_entry *e)
{
	if (!b->msg || i >= b->msg->n_entries)
		return SHOAL_EPROTO;
	return folder_entry_from_pb(e, b->msg->entries[i], NULL);
}

void folder_batch_free(struct folder_batch *b)
{
	if (b->msg)
		shoal__folder_batch__free_unpacked(b->msg, NULL);
	b->msg = NULL;
}
