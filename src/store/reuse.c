/*
 * The plan of an incremental put; see reuse.h.
 */
#include "store/reuse.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int reuse_path_cmp(const char *a, const char *b)
{
	/* Depth first with sorted children is bytewise order where the end of
	 * a path comes first and '/' right after it: a directory's whole
	 * subtree sorts before any sibling that merely starts with its name. */
	const unsigned char *x = (const unsigned char *)a, *y = (const unsigned char *)b;
	for (;; x++, y++) {
		if (*x == *y) {
			if (!*x)
				return 0;
			continue;
		}
		int cx = *x == '/' ? 1 : *x ? *x + 1 : 0;
		int cy = *y == '/' ? 1 : *y ? *y + 1 : 0;
		return cx - cy;
	}
}

int reuse_entry_unchanged(const struct dir_entry *old, const struct dir_entry *now)
{
	return old->kind == MANIFEST_FILE && now->kind == MANIFEST_FILE && old->inode != 0 &&
	       old->inode == now->inode && old->size == now->size && old->mtime == now->mtime &&
	       old->mtime_ns == now->mtime_ns && old->ctime_ns == now->ctime_ns;
}

void reuse_hash_file(struct sha256_ctx *c, const struct dir_entry *e, uint64_t off)
{
	uint64_t fields[6] = {
		off, e->size, (uint64_t)e->mtime, e->mtime_ns, (uint64_t)e->ctime_ns, e->inode};
	sha256_update(c, e->path, strlen(e->path) + 1);
	sha256_update(c, fields, sizeof(fields));
}

void reuse_plan_init(struct reuse_plan *p, reuse_ref_fn next_ref, reuse_present_fn present,
		     void *arg)
{
	*p = (struct reuse_plan){.next_ref = next_ref, .present = present, .arg = arg};
}

/* Moves to the next previous ref. */
static int ref_advance(struct reuse_plan *p)
{
	if (p->ref_state == 1)
		p->ref_off += p->ref.size;
	int r = p->next_ref(p->arg, &p->ref);
	if (r < 0)
		return r;
	p->ref_state = r == 1 ? 2 : 1;
	return 0;
}

static int push_ref(struct reuse_plan *p, const struct chunk_ref *ref)
{
	if (p->nrefs == p->refs_cap) {
		size_t cap = p->refs_cap ? 2 * p->refs_cap : 64;
		void *q = realloc(p->refs, cap * sizeof(*p->refs));
		if (!q)
			return -ENOMEM;
		p->refs = q;
		p->refs_cap = cap;
	}
	p->refs[p->nrefs++] = *ref;
	return 0;
}

static int push_span(struct reuse_plan *p, const struct reuse_span *span)
{
	if (p->nspans == p->spans_cap) {
		size_t cap = p->spans_cap ? 2 * p->spans_cap : 16;
		void *q = realloc(p->spans, cap * sizeof(*p->spans));
		if (!q)
			return -ENOMEM;
		p->spans = q;
		p->spans_cap = cap;
	}
	p->spans[p->nspans++] = *span;
	return 0;
}

/* Ends the open run at p->old_pos: the previous chunks wholly inside it
 * become a span, unless one of them is not present (then the run is read). */
static int run_close(struct reuse_plan *p)
{
	if (!p->run_open)
		return 0;
	p->run_open = 0;
	struct reuse_span span = {.run_off = p->run_new,
				  .run_len = p->old_pos - p->run_old,
				  .first = p->nrefs,
				  .files = p->run_files};
	sha256_final(&p->run_hash, span.digest);
	uint64_t a = p->run_old, b = p->old_pos;
	int err = 0;
	while (!err && (p->ref_state == 0 || (p->ref_state == 1 && p->ref_off < a)))
		err = ref_advance(p);
	uint64_t start = p->ref_off;
	int usable = 1;
	while (!err && p->ref_state == 1 && p->ref_off + p->ref.size <= b) {
		if (p->present && usable) {
			int r = p->present(p->arg, &p->ref);
			if (r < 0)
				return r;
			usable = r == 1;
		}
		err = push_ref(p, &p->ref);
		if (!err) {
			span.len += p->ref.size;
			err = ref_advance(p);
		}
	}
	if (err)
		return err;
	span.nrefs = p->nrefs - span.first;
	if (!usable || !span.nrefs) {
		p->nrefs = span.first;
		return 0;
	}
	span.off = p->run_new + (start - a);
	p->files += span.files;
	p->bytes += span.len;
	return push_span(p, &span);
}

int reuse_plan_step(struct reuse_plan *p, const struct dir_entry *old, const struct dir_entry *now)
{
	if (old && now && reuse_entry_unchanged(old, now)) {
		/* An empty file has no bytes to read either way. */
		if (!now->size) {
			p->files++;
			return 0;
		}
		if (!p->run_open) {
			int err = sha256_init(&p->run_hash);
			if (err)
				return err;
			p->run_open = 1;
			p->run_old = p->old_pos;
			p->run_new = p->new_pos;
			p->run_files = 0;
		}
		reuse_hash_file(&p->run_hash, now, p->new_pos);
		p->run_files++;
		p->old_pos += now->size;
		p->new_pos += now->size;
		return 0;
	}
	uint64_t old_bytes = old && old->kind == MANIFEST_FILE ? old->size : 0;
	uint64_t new_bytes = now && now->kind == MANIFEST_FILE ? now->size : 0;
	/* Entries without bytes (directories, links, empty files) do not break
	 * a run: the streams stay the same across them. */
	if (old_bytes || new_bytes) {
		int err = run_close(p);
		if (err)
			return err;
	}
	p->old_pos += old_bytes;
	p->new_pos += new_bytes;
	return 0;
}

int reuse_plan_end(struct reuse_plan *p)
{
	return run_close(p);
}

void reuse_plan_release(struct reuse_plan *p)
{
	if (p->run_open)
		sha256_release(&p->run_hash);
	free(p->spans);
	free(p->refs);
	p->spans = NULL;
	p->refs = NULL;
	p->nspans = p->nrefs = p->spans_cap = p->refs_cap = 0;
	p->run_open = 0;
}
