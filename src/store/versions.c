/*
 * Retention and pruning of a name's versions; see versions.h.
 */
#include "store/versions.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/error.h"

int retention_set(const struct retention *r)
{
	return r && (r->last || r->daily || r->weekly || r->monthly);
}

enum bucket_kind { BUCKET_LAST, BUCKET_DAY, BUCKET_WEEK, BUCKET_MONTH, BUCKETS };

/* The bucket of a version created at t (local time) under kind: versions in
 * one bucket count as one for the rule. The last rule's bucket is each
 * version's own (its index i). */
static int64_t bucket_of(enum bucket_kind kind, int64_t t, size_t i)
{
	time_t tt = (time_t)t;
	struct tm tm;
	if (kind == BUCKET_LAST || !localtime_r(&tt, &tm))
		return -(int64_t)i - 1;
	if (kind == BUCKET_DAY)
		return (int64_t)(tm.tm_year + 1900) * 10000 + (tm.tm_mon + 1) * 100 + tm.tm_mday;
	if (kind == BUCKET_MONTH)
		return (int64_t)(tm.tm_year + 1900) * 100 + tm.tm_mon + 1;
	char week[16];
	if (!strftime(week, sizeof(week), "%G%V", &tm))
		return -(int64_t)i - 1;
	return strtoll(week, NULL, 10);
}

void retention_select(const int64_t *created, size_t n, const struct retention *r, uint8_t *keep)
{
	unsigned left[BUCKETS] = {r->last, r->daily, r->weekly, r->monthly};
	int64_t last[BUCKETS];
	int seen[BUCKETS] = {0};
	int any = retention_set(r);
	/* restic's forget: walking from the newest, a rule keeps a version
	 * whose bucket differs from the last one it kept, while it has keeps
	 * left; a version any rule keeps is kept. */
	for (size_t i = 0; i < n; i++) {
		keep[i] = !any || i == 0;
		for (int k = 0; any && k < BUCKETS; k++) {
			if (!left[k])
				continue;
			int64_t b = bucket_of((enum bucket_kind)k, created[i], i);
			if (seen[k] && b == last[k])
				continue;
			keep[i] = 1;
			last[k] = b;
			seen[k] = 1;
			left[k]--;
		}
	}
}

/* The versions of one name, newest first. */
struct version_list {
	struct index_name *v;
	size_t n, cap;
};

static int collect_version(const struct index_name *n, void *arg)
{
	struct version_list *l = arg;
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 16;
		void *p = realloc(l->v, cap * sizeof(*l->v));
		if (!p)
			return -ENOMEM;
		l->v = p;
		l->cap = cap;
	}
	l->v[l->n++] = *n;
	return 0;
}

/* The names to prune: one, or every name. */
struct name_list {
	char (*names)[256];
	size_t n, cap;
};

static int collect_name(const struct index_name *n, void *arg)
{
	struct name_list *l = arg;
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 64;
		void *p = realloc(l->names, cap * sizeof(*l->names));
		if (!p)
			return -ENOMEM;
		l->names = p;
		l->cap = cap;
	}
	memcpy(l->names[l->n++], n->name, sizeof(n->name));
	return 0;
}

/* Prunes one name inside the open transaction. */
static int prune_name(struct store *s, const char *name, const struct retention *r, int dry_run,
		      versions_prune_fn fn, void *arg, uint64_t *removed)
{
	struct version_list l = {0};
	int64_t *created = NULL;
	uint8_t *keep = NULL;
	int err = index_versions_foreach(s->index, name, collect_version, &l);
	if (!err && !l.n)
		err = SHOAL_ENOTFOUND;
	if (!err && (!(created = calloc(l.n, sizeof(*created))) || !(keep = calloc(l.n, 1))))
		err = -ENOMEM;
	if (err)
		goto out;
	for (size_t i = 0; i < l.n; i++)
		created[i] = l.v[i].created;
	retention_select(created, l.n, r, keep);
	for (size_t i = 0; !err && i < l.n; i++) {
		if (fn)
			err = fn(&l.v[i], keep[i], arg);
		if (!err && !keep[i]) {
			(*removed)++;
			if (!dry_run)
				err = index_version_remove(s->index, name, l.v[i].version);
		}
	}
out:
	free(l.v);
	free(created);
	free(keep);
	return err;
}

int versions_prune(struct store *s, const char *name, const struct retention *r, int dry_run,
		   versions_prune_fn fn, void *arg, uint64_t *removed)
{
	uint64_t count = 0;
	struct name_list names = {0};
	int err = name ? collect_name(&(struct index_name){0}, &names)
		       : index_names_foreach(s->index, collect_name, &names);
	if (!err && name)
		snprintf(names.names[0], sizeof(names.names[0]), "%s", name);
	if (!err)
		err = index_begin(s->index);
	if (err)
		goto out;
	for (size_t i = 0; !err && i < names.n; i++)
		err = prune_name(s, names.names[i], r, dry_run, fn, arg, &count);
	if (err || dry_run || !count)
		index_rollback(s->index);
	else
		err = store_commit_releasing(s);
out:
	free(names.names);
	if (removed)
		*removed = err ? 0 : count;
	return err;
}

int versions_after_put(struct store *s, const char *name, const struct index_name *before,
		       const struct capability *cap, const struct retention *r, char *note,
		       size_t size)
{
	snprintf(note, size, "%s", "");
	if (before && !memcmp(before->manifest, cap->id, CHUNK_ID_LEN)) {
		snprintf(note, size,
			 "'%.255s' is unchanged (the same as its version %u): no version added",
			 name, before->version);
		return 0;
	}
	if (!retention_set(r))
		return 0;
	uint64_t removed;
	int err = versions_prune(s, name, r, 0, NULL, NULL, &removed);
	if (!err && removed)
		snprintf(note, size,
			 "pruned %llu old version%s of '%.255s' (prune_keep_* settings)",
			 (unsigned long long)removed, removed == 1 ? "" : "s", name);
	return err;
}
