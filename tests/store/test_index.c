/*
 * Tests for the SQLite index (src/store/index.c): chunk rows (add, has, remove, stats,
 * foreach), names (set, get, versions, remove, ordered foreach, SHOAL_ENOTFOUND), refs and
 * garbage collection (a chunk lives exactly as long as some named manifest or pending put
 * refers to it, and the callback sees each dropped chunk once), moving refs from a put's token to
 * its manifest, chunks referenced but absent, rollback, nested transactions and the store's
 * group commit, and the integrity check. Ids are SHA-256 of
 * short labels, so failures can be read back. Each test gets a fresh node home under /tmp
 * (store_create + store_open) and uses its index; the home is removed afterwards.
 */
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "store_fixture.h"
#include "crypto/hash.h"
#include "crypto/identity.h"
#include "proto/name.h"
#include "store/folderdb.h"
#include "store/index.h"
#include "store/store.h"
#include "util/error.h"
#include "util/log.h"

struct fixture {
	char home[STORE_FIXTURE_PATH];
	struct store *s;
	struct index *ix; /* fx->s->index */
};

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	if (!fx)
		return -1;
	if (store_fixture_setup(fx->home, NULL, &fx->s, "index")) {
		free(fx);
		return -1;
	}
	fx->ix = fx->s->index;
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;
	int err = store_fixture_teardown(fx->home, NULL, fx->s);
	free(fx);
	return err;
}

/* The id of a label: SHA-256 of its text. */
static void id_of(const char *label, uint8_t id[CHUNK_ID_LEN])
{
	sha256(label, strlen(label), id);
}

/* A set of ids collected by callbacks. */
#define IDSET_MAX 32
struct idset {
	uint8_t ids[IDSET_MAX][CHUNK_ID_LEN];
	uint64_t sizes[IDSET_MAX];
	size_t n;
	size_t stop_after; /* 0: never */
};

static int idset_add(const uint8_t id[CHUNK_ID_LEN], uint64_t size, void *arg)
{
	struct idset *v = arg;
	assert_true(v->n < IDSET_MAX);
	memcpy(v->ids[v->n], id, CHUNK_ID_LEN);
	v->sizes[v->n] = size;
	v->n++;
	return v->stop_after && v->n == v->stop_after ? 9 : 0;
}

/* How many times the id of label occurs in v. */
static int idset_count(const struct idset *v, const char *label)
{
	uint8_t id[CHUNK_ID_LEN];
	id_of(label, id);
	int count = 0;
	for (size_t i = 0; i < v->n; i++)
		count += memcmp(v->ids[i], id, CHUNK_ID_LEN) == 0;
	return count;
}

/* Asserts that v holds exactly the ids of the NULL-terminated labels, each once. */
static void assert_idset(const struct idset *v, const char *const *labels)
{
	size_t n = 0;
	for (; labels[n]; n++)
		assert_int_equal(idset_count(v, labels[n]), 1);
	assert_int_equal(v->n, n);
}

static void add_chunk(struct fixture *fx, const char *label, uint64_t size)
{
	uint8_t id[CHUNK_ID_LEN];
	id_of(label, id);
	assert_int_equal(index_chunk_add(fx->ix, id, size), 0);
}

static int has_chunk(struct fixture *fx, const char *label)
{
	uint8_t id[CHUNK_ID_LEN];
	id_of(label, id);
	return index_chunk_has(fx->ix, id);
}

static void add_ref(struct fixture *fx, const char *manifest, const char *chunk)
{
	uint8_t m[CHUNK_ID_LEN], c[CHUNK_ID_LEN];
	id_of(manifest, m);
	id_of(chunk, c);
	assert_int_equal(index_ref_add(fx->ix, m, c), 0);
}

/* Binds name to the manifest of label. */
static void set_name(struct fixture *fx, const char *name, const char *manifest, uint64_t size)
{
	struct index_name n = {.size = size, .created = 1700000000 + (int64_t)size};
	snprintf(n.name, sizeof(n.name), "%s", name);
	snprintf(n.cap, sizeof(n.cap), "shoal:cap-of-%s", manifest);
	id_of(manifest, n.manifest);
	assert_int_equal(index_name_set(fx->ix, &n, NULL, NULL), 0);
}

/* Runs garbage collection in its own transaction; returns the dropped chunks. */
static void collect(struct fixture *fx, struct idset *dropped)
{
	memset(dropped, 0, sizeof(*dropped));
	assert_int_equal(index_begin(fx->ix), 0);
	assert_int_equal(index_collect_garbage(fx->ix, idset_add, dropped), 0);
	assert_int_equal(index_commit(fx->ix), 0);
}

static void assert_stats(struct fixture *fx, uint64_t count, uint64_t bytes)
{
	uint64_t c = 999, b = 999;
	assert_int_equal(index_chunk_stats(fx->ix, &c, &b), 0);
	assert_int_equal(c, count);
	assert_int_equal(b, bytes);
}

static void test_chunks(void **state)
{
	struct fixture *fx = *state;
	assert_stats(fx, 0, 0);
	assert_int_equal(has_chunk(fx, "a"), 0);

	add_chunk(fx, "a", 10);
	add_chunk(fx, "b", 200);
	add_chunk(fx, "c", 3000);
	assert_int_equal(has_chunk(fx, "a"), 1);
	assert_int_equal(has_chunk(fx, "b"), 1);
	assert_int_equal(has_chunk(fx, "c"), 1);
	assert_int_equal(has_chunk(fx, "d"), 0);
	assert_stats(fx, 3, 3210);

	/* Adding again is a no-op, even with another size. */
	add_chunk(fx, "b", 999999);
	assert_stats(fx, 3, 3210);

	/* Sizes above 2^32 survive the database. */
	add_chunk(fx, "big", UINT64_C(5) << 32);
	assert_stats(fx, 4, 3210 + (UINT64_C(5) << 32));

	struct idset all = {0};
	assert_int_equal(index_chunks_foreach(fx->ix, idset_add, &all), 0);
	assert_idset(&all, (const char *const[]){"a", "b", "c", "big", NULL});
	for (size_t i = 0; i < all.n; i++) {
		if (i)
			assert_true(memcmp(all.ids[i - 1], all.ids[i], CHUNK_ID_LEN) < 0);
		uint8_t b[CHUNK_ID_LEN];
		id_of("b", b);
		if (!memcmp(all.ids[i], b, CHUNK_ID_LEN))
			assert_int_equal(all.sizes[i], 200);
	}
	struct idset two = {.stop_after = 2};
	assert_int_equal(index_chunks_foreach(fx->ix, idset_add, &two), 9);
	assert_int_equal(two.n, 2);

	uint8_t id[CHUNK_ID_LEN];
	id_of("b", id);
	assert_int_equal(index_chunk_remove(fx->ix, id), 0);
	assert_int_equal(has_chunk(fx, "b"), 0);
	assert_int_equal(has_chunk(fx, "a"), 1);
	assert_stats(fx, 3, 3010 + (UINT64_C(5) << 32));
	/* Removing an absent chunk is harmless. */
	assert_int_equal(index_chunk_remove(fx->ix, id), 0);
	assert_stats(fx, 3, 3010 + (UINT64_C(5) << 32));
}

struct names {
	struct index_name v[8];
	size_t n;
	size_t stop_after;
};

static int collect_name(const struct index_name *n, void *arg)
{
	struct names *l = arg;
	assert_true(l->n < 8);
	l->v[l->n++] = *n;
	return l->stop_after && l->n == l->stop_after ? 5 : 0;
}

static void test_names(void **state)
{
	struct fixture *fx = *state;
	struct index_name got;
	assert_int_equal(index_name_get(fx->ix, "nothing", &got), SHOAL_ENOTFOUND);
	assert_int_equal(index_name_remove(fx->ix, "nothing"), SHOAL_ENOTFOUND);

	set_name(fx, "photos/b.jpg", "m-b", 20);
	set_name(fx, "a.txt", "m-a", 10);
	set_name(fx, "zeta", "m-z", 30);
	set_name(fx, "photos/a.jpg", "m-pa", 40);

	assert_int_equal(index_name_get(fx->ix, "a.txt", &got), 0);
	assert_string_equal(got.name, "a.txt");
	assert_string_equal(got.cap, "shoal:cap-of-m-a");
	uint8_t m[CHUNK_ID_LEN];
	id_of("m-a", m);
	assert_memory_equal(got.manifest, m, CHUNK_ID_LEN);
	assert_int_equal(got.size, 10);
	assert_int_equal(got.created, 1700000010);
	/* Lookups are exact: no prefix or case folding. */
	assert_int_equal(index_name_get(fx->ix, "a.tx", &got), SHOAL_ENOTFOUND);
	assert_int_equal(index_name_get(fx->ix, "A.TXT", &got), SHOAL_ENOTFOUND);

	/* Replacing a binding. */
	set_name(fx, "zeta", "m-z2", 31);
	assert_int_equal(index_name_get(fx->ix, "zeta", &got), 0);
	assert_string_equal(got.cap, "shoal:cap-of-m-z2");
	id_of("m-z2", m);
	assert_memory_equal(got.manifest, m, CHUNK_ID_LEN);
	assert_int_equal(got.size, 31);

	struct names l = {0};
	assert_int_equal(index_names_foreach(fx->ix, collect_name, &l), 0);
	assert_int_equal(l.n, 4);
	assert_string_equal(l.v[0].name, "a.txt");
	assert_string_equal(l.v[1].name, "photos/a.jpg");
	assert_string_equal(l.v[2].name, "photos/b.jpg");
	assert_string_equal(l.v[3].name, "zeta");
	assert_int_equal(l.v[1].size, 40);
	assert_string_equal(l.v[3].cap, "shoal:cap-of-m-z2");

	struct names first = {.stop_after = 1};
	assert_int_equal(index_names_foreach(fx->ix, collect_name, &first), 5);
	assert_int_equal(first.n, 1);

	assert_int_equal(index_name_remove(fx->ix, "photos/a.jpg"), 0);
	assert_int_equal(index_name_get(fx->ix, "photos/a.jpg", &got), SHOAL_ENOTFOUND);
	assert_int_equal(index_name_remove(fx->ix, "photos/a.jpg"), SHOAL_ENOTFOUND);
	assert_int_equal(index_name_get(fx->ix, "photos/b.jpg", &got), 0);
	memset(&l, 0, sizeof(l));
	assert_int_equal(index_names_foreach(fx->ix, collect_name, &l), 0);
	assert_int_equal(l.n, 3);
}

/*
 * Manifests M1 (chunks c1 c2 c3) and M2 (c2 c3 c4), each also referring to its own chunk
 * as a put records it; c5 is stored but no manifest needs it; names "one" -> M1 and
 * "two" -> M2.
 */
static void build_two_files(struct fixture *fx)
{
	const char *chunks[] = {"M1", "M2", "c1", "c2", "c3", "c4", "c5"};
	for (size_t i = 0; i < 7; i++)
		add_chunk(fx, chunks[i], 100 + i);
	const char *m1[] = {"M1", "c1", "c2", "c3"}, *m2[] = {"M2", "c2", "c3", "c4"};
	for (size_t i = 0; i < 4; i++) {
		add_ref(fx, "M1", m1[i]);
		add_ref(fx, "M2", m2[i]);
	}
	set_name(fx, "one", "M1", 1);
	set_name(fx, "two", "M2", 2);
}

static void test_gc_shared_chunks(void **state)
{
	struct fixture *fx = *state;
	build_two_files(fx);
	struct idset dropped;

	collect(fx, &dropped);
	assert_idset(&dropped, (const char *const[]){"c5", NULL});
	assert_int_equal(has_chunk(fx, "c5"), 0);
	assert_stats(fx, 6, 100 + 101 + 102 + 103 + 104 + 105);

	/* Nothing more to collect. */
	collect(fx, &dropped);
	assert_int_equal(dropped.n, 0);

	/* Dropping "one" frees what only M1 needed. */
	assert_int_equal(index_name_remove(fx->ix, "one"), 0);
	collect(fx, &dropped);
	assert_idset(&dropped, (const char *const[]){"M1", "c1", NULL});
	const char *kept[] = {"M2", "c2", "c3", "c4"};
	for (size_t i = 0; i < 4; i++)
		assert_int_equal(has_chunk(fx, kept[i]), 1);
	assert_int_equal(has_chunk(fx, "c1"), 0);
	assert_int_equal(has_chunk(fx, "M1"), 0);

	assert_int_equal(index_name_remove(fx->ix, "two"), 0);
	collect(fx, &dropped);
	assert_idset(&dropped, (const char *const[]){"M2", "c2", "c3", "c4", NULL});
	assert_stats(fx, 0, 0);
}

static void test_gc_two_names_one_manifest(void **state)
{
	struct fixture *fx = *state;
	add_chunk(fx, "M", 1);
	add_chunk(fx, "x", 2);
	add_ref(fx, "M", "M");
	add_ref(fx, "M", "x");
	set_name(fx, "first", "M", 3);
	set_name(fx, "second", "M", 3);
	struct idset dropped;

	assert_int_equal(index_name_remove(fx->ix, "first"), 0);
	collect(fx, &dropped);
	assert_int_equal(dropped.n, 0);
	assert_int_equal(has_chunk(fx, "x"), 1);
	assert_int_equal(has_chunk(fx, "M"), 1);

	assert_int_equal(index_name_remove(fx->ix, "second"), 0);
	collect(fx, &dropped);
	assert_idset(&dropped, (const char *const[]){"M", "x", NULL});
	assert_stats(fx, 0, 0);
}

static void test_gc_versions_release_old_manifest(void **state)
{
	struct fixture *fx = *state;
	build_two_files(fx);
	struct idset dropped;
	collect(fx, &dropped);

	/* "one" now names M2 too, as its version 2: version 1 keeps M1. */
	set_name(fx, "one", "M2", 2);
	collect(fx, &dropped);
	assert_idset(&dropped, (const char *const[]){NULL});
	struct index_name got;
	assert_int_equal(index_name_get(fx->ix, "one", &got), 0);
	assert_int_equal(got.version, 2);
	assert_int_equal(got.versions, 2);
	/* Version 1 gone: M1's own chunks go, shared ones stay. */
	assert_int_equal(index_begin(fx->ix), 0);
	assert_int_equal(index_version_remove(fx->ix, "one", 1), 0);
	assert_int_equal(index_version_remove(fx->ix, "one", 1), SHOAL_ENOTFOUND);
	assert_int_equal(index_commit(fx->ix), 0);
	collect(fx, &dropped);
	assert_idset(&dropped, (const char *const[]){"M1", "c1", NULL});

	/* A NULL callback still collects. */
	assert_int_equal(index_name_remove(fx->ix, "one"), 0);
	assert_int_equal(index_name_remove(fx->ix, "two"), 0);
	assert_int_equal(index_begin(fx->ix), 0);
	assert_int_equal(index_collect_garbage(fx->ix, NULL, NULL), 0);
	assert_int_equal(index_commit(fx->ix), 0);
	assert_stats(fx, 0, 0);
}

/* Files manifest (label) as sent by sender under name; returns
 * index_name_receive()'s result, the name used in filed. */
static int receive(struct fixture *fx, const char *name, const char *manifest,
		   const uint8_t sender[32], char filed[NAME_MAX_LEN + 1])
{
	struct index_name n = {.size = 7, .created = 1700000100};
	snprintf(n.name, sizeof(n.name), "%s", name);
	snprintf(n.cap, sizeof(n.cap), "shoal:cap-of-%s", manifest);
	id_of(manifest, n.manifest);
	memcpy(n.sender, sender, 32);
	assert_int_equal(index_begin(fx->ix), 0);
	int err = index_name_receive(fx->ix, &n, NULL, NULL);
	if (err) {
		index_rollback(fx->ix);
		return err;
	}
	assert_int_equal(index_commit(fx->ix), 0);
	assert_int_equal(n.received, 1);
	snprintf(filed, NAME_MAX_LEN + 1, "%s", n.name);
	return 0;
}

static int count_version(const struct index_name *n, void *arg)
{
	const uint8_t *sender = ((const uint8_t **)arg)[0];
	int *count = ((int **)arg)[1];
	assert_true(n->received);
	assert_memory_equal(n->sender, sender, 32);
	assert_string_equal(n->sender_nickname, "alpha");
	(*count)++;
	return 0;
}

static void test_received_names(void **state)
{
	struct fixture *fx = *state;
	build_two_files(fx);
	uint8_t a[32], b[32], c3[CHUNK_ID_LEN];
	id_of("node a", a);
	id_of("node b", b);
	id_of("c3", c3);
	struct index_member m = {.last_seen = 1};
	memcpy(m.id, a, 32);
	snprintf(m.nickname, sizeof(m.nickname), "alpha");
	assert_int_equal(index_member_set(fx->ix, &m), 0);
	struct idset dropped;
	collect(fx, &dropped);
	const char *chunks[] = {"M3", "M4", "M5", "M6"};
	for (size_t i = 0; i < 4; i++) {
		add_chunk(fx, chunks[i], 10);
		add_ref(fx, chunks[i], chunks[i]);
	}
	add_ref(fx, "M3", "c3");

	/* A free name is taken as it is. */
	char filed[NAME_MAX_LEN + 1];
	assert_int_equal(receive(fx, "fresh", "M6", a, filed), 0);
	assert_string_equal(filed, "fresh");
	struct index_name got;
	assert_int_equal(index_name_get(fx->ix, "fresh", &got), 0);
	assert_true(got.received);
	assert_memory_equal(got.sender, a, 32);
	assert_string_equal(got.sender_nickname, "alpha");
	assert_int_equal(got.created, 1700000100);

	/* A name of this node's own is not touched: "(from alpha)". */
	assert_int_equal(receive(fx, "one", "M3", a, filed), 0);
	assert_string_equal(filed, "one (from alpha)");
	assert_int_equal(index_name_get(fx->ix, "one", &got), 0);
	assert_false(got.received);
	assert_int_equal(got.versions, 1);
	uint8_t m1[CHUNK_ID_LEN];
	id_of("M1", m1);
	assert_memory_equal(got.manifest, m1, CHUNK_ID_LEN);
	/* The same sender again: a new version of its name. */
	assert_int_equal(receive(fx, "one", "M4", a, filed), 0);
	assert_string_equal(filed, "one (from alpha)");
	assert_int_equal(index_name_get(fx->ix, "one (from alpha)", &got), 0);
	assert_int_equal(got.versions, 2);
	int count = 0;
	const void *args[] = {a, &count};
	assert_int_equal(index_versions_foreach(fx->ix, "one (from alpha)", count_version, args),
			 0);
	assert_int_equal(count, 2);
	/* Another sender, without a nickname: its id's first characters. */
	char sid[NODE_ID_STR_LEN + 1], want[NAME_MAX_LEN + 1];
	node_id_format(b, sid);
	assert_int_equal(receive(fx, "one", "M5", b, filed), 0);
	snprintf(want, sizeof(want), "one (from %.16s)", sid);
	assert_string_equal(filed, want);
	assert_int_equal(index_name_get(fx->ix, want, &got), 0);
	assert_true(got.received);
	assert_string_equal(got.sender_nickname, "");
	/* ... and a name "one (from alpha)" put here by this node is skipped. */
	set_name(fx, "two (from alpha)", "M2", 2);
	assert_int_equal(receive(fx, "two", "M5", a, filed), 0);
	assert_string_equal(filed, "two (from alpha) 2");

	/* A pin of the sender's dropped: the received file keeps its chunks. */
	assert_int_equal(index_pin_add(fx->ix, c3, a), 0);
	assert_int_equal(index_pin_remove(fx->ix, c3, a), 0);
	collect(fx, &dropped);
	assert_idset(&dropped, (const char *const[]){NULL});
	assert_int_equal(has_chunk(fx, "c3"), 1);
	/* This node's rm of it lets them go. */
	assert_int_equal(index_name_remove(fx->ix, "one (from alpha)"), 0);
	assert_int_equal(index_name_remove(fx->ix, "one"), 0);
	collect(fx, &dropped);
	assert_idset(&dropped, (const char *const[]){"M1", "M3", "M4", "c1", NULL});

	/* Every name tried taken: SHOAL_EEXIST, nothing filed. */
	set_name(fx, "z", "M2", 2);
	set_name(fx, "z (from alpha)", "M2", 2);
	for (int i = 2; i < INDEX_RECEIVE_TRIES; i++) {
		snprintf(want, sizeof(want), "z (from alpha) %d", i);
		set_name(fx, want, "M2", 2);
	}
	assert_int_equal(receive(fx, "z", "M6", a, filed), SHOAL_EEXIST);
	/* A long name is cut to fit the suffix. */
	char longname[NAME_MAX_LEN + 1];
	memset(longname, 'x', NAME_MAX_LEN);
	longname[NAME_MAX_LEN] = 0;
	set_name(fx, longname, "M2", 2);
	assert_int_equal(receive(fx, longname, "M6", a, filed), 0);
	assert_int_equal(strlen(filed), NAME_MAX_LEN);
	assert_string_equal(filed + NAME_MAX_LEN - strlen(" (from alpha)"), " (from alpha)");
}

static void test_refs_move_merges(void **state)
{
	struct fixture *fx = *state;
	/* A put's refs hang off a token until the manifest id is known; the
	 * manifest already has refs of its own from an earlier put. */
	add_ref(fx, "token", "x1");
	add_ref(fx, "token", "x2");
	add_ref(fx, "M", "x2");
	add_ref(fx, "M", "x3");
	uint8_t token[CHUNK_ID_LEN], m[CHUNK_ID_LEN];
	id_of("token", token);
	id_of("M", m);
	assert_int_equal(index_refs_move(fx->ix, token, m), 0);

	/* The refs are all under M now (x2 once). */
	struct idset missing = {0};
	assert_int_equal(index_missing_foreach(fx->ix, idset_add, &missing), 0);
	assert_idset(&missing, (const char *const[]){"x1", "x2", "x3", NULL});

	/* With "m" -> M, all three are kept. */
	const char *xs[] = {"x1", "x2", "x3"};
	for (size_t i = 0; i < 3; i++)
		add_chunk(fx, xs[i], 7);
	set_name(fx, "m", "M", 21);
	set_name(fx, "t", "token", 0);
	struct idset dropped;
	collect(fx, &dropped);
	assert_int_equal(dropped.n, 0);

	/* The token kept no refs: with only "t" left, nothing is needed. */
	assert_int_equal(index_name_remove(fx->ix, "m"), 0);
	collect(fx, &dropped);
	assert_idset(&dropped, (const char *const[]){"x1", "x2", "x3", NULL});

	/* Moving refs of a manifest that has none changes nothing. */
	uint8_t none[CHUNK_ID_LEN];
	id_of("none", none);
	assert_int_equal(index_refs_move(fx->ix, none, m), 0);
	memset(&missing, 0, sizeof(missing));
	assert_int_equal(index_missing_foreach(fx->ix, idset_add, &missing), 0);
	assert_int_equal(missing.n, 0);
}

static void set_pending(struct fixture *fx, const char *token, int set)
{
	uint8_t id[CHUNK_ID_LEN];
	id_of(token, id);
	assert_int_equal(index_pending_set(fx->ix, id, set), 0);
}

static void test_pending_tokens_pin_refs(void **state)
{
	struct fixture *fx = *state;
	/* Two puts in progress and one named file sharing a chunk with the first. */
	add_chunk(fx, "p1", 1);
	add_chunk(fx, "p2", 2);
	add_chunk(fx, "shared", 4);
	add_chunk(fx, "q1", 8);
	add_chunk(fx, "M", 16);
	set_pending(fx, "put-1", 1);
	set_pending(fx, "put-1", 1); /* again: no-op */
	set_pending(fx, "put-2", 1);
	add_ref(fx, "put-1", "p1");
	add_ref(fx, "put-1", "p2");
	add_ref(fx, "put-1", "shared");
	add_ref(fx, "put-2", "q1");
	add_ref(fx, "M", "M");
	add_ref(fx, "M", "shared");
	set_name(fx, "named", "M", 1);
	struct idset dropped;
	collect(fx, &dropped);
	assert_int_equal(dropped.n, 0);

	/* The first put gives up: what only it stored goes. */
	set_pending(fx, "put-1", 0);
	collect(fx, &dropped);
	assert_idset(&dropped, (const char *const[]){"p1", "p2", NULL});
	assert_int_equal(has_chunk(fx, "shared"), 1);
	assert_int_equal(has_chunk(fx, "q1"), 1);

	/* A token set inside a transaction that rolls back was never set. */
	add_chunk(fx, "r1", 32);
	add_ref(fx, "put-3", "r1");
	assert_int_equal(index_begin(fx->ix), 0);
	set_pending(fx, "put-3", 1);
	index_rollback(fx->ix);
	collect(fx, &dropped);
	assert_idset(&dropped, (const char *const[]){"r1", NULL});

	/* After a crash no put is in progress: clearing releases the second. */
	assert_int_equal(index_pending_clear(fx->ix), 0);
	collect(fx, &dropped);
	assert_idset(&dropped, (const char *const[]){"q1", NULL});
	assert_stats(fx, 2, 4 + 16);
}

static void test_missing_foreach(void **state)
{
	struct fixture *fx = *state;
	struct idset missing = {0};
	assert_int_equal(index_missing_foreach(fx->ix, idset_add, &missing), 0);
	assert_int_equal(missing.n, 0);

	add_chunk(fx, "M1", 1);
	add_chunk(fx, "present", 1);
	add_chunk(fx, "unreferenced", 1);
	add_ref(fx, "M1", "M1");
	add_ref(fx, "M1", "present");
	add_ref(fx, "M1", "gone");
	add_ref(fx, "M2", "gone");
	add_ref(fx, "M2", "lost");
	/* Adding a ref twice is a no-op. */
	add_ref(fx, "M2", "lost");
	assert_int_equal(index_missing_foreach(fx->ix, idset_add, &missing), 0);
	assert_idset(&missing, (const char *const[]){"gone", "lost", NULL});

	/* Storing one makes it present. */
	add_chunk(fx, "lost", 5);
	memset(&missing, 0, sizeof(missing));
	assert_int_equal(index_missing_foreach(fx->ix, idset_add, &missing), 0);
	assert_idset(&missing, (const char *const[]){"gone", NULL});

	/* And removing a row makes it missing again. */
	uint8_t id[CHUNK_ID_LEN];
	id_of("present", id);
	assert_int_equal(index_chunk_remove(fx->ix, id), 0);
	memset(&missing, 0, sizeof(missing));
	assert_int_equal(index_missing_foreach(fx->ix, idset_add, &missing), 0);
	assert_idset(&missing, (const char *const[]){"gone", "present", NULL});
}

static void test_rollback_discards(void **state)
{
	struct fixture *fx = *state;
	add_chunk(fx, "before", 1);
	set_name(fx, "kept", "M0", 1);

	assert_int_equal(index_begin(fx->ix), 0);
	add_chunk(fx, "during", 2);
	add_ref(fx, "M", "ghost");
	set_name(fx, "new", "M", 2);
	set_name(fx, "kept", "M-other", 9);
	uint8_t id[CHUNK_ID_LEN];
	id_of("before", id);
	assert_int_equal(index_chunk_remove(fx->ix, id), 0);
	assert_int_equal(has_chunk(fx, "during"), 1);
	index_rollback(fx->ix);

	assert_int_equal(has_chunk(fx, "during"), 0);
	assert_int_equal(has_chunk(fx, "before"), 1);
	struct index_name got;
	assert_int_equal(index_name_get(fx->ix, "new", &got), SHOAL_ENOTFOUND);
	assert_int_equal(index_name_get(fx->ix, "kept", &got), 0);
	assert_string_equal(got.cap, "shoal:cap-of-M0");
	struct idset missing = {0};
	assert_int_equal(index_missing_foreach(fx->ix, idset_add, &missing), 0);
	assert_int_equal(missing.n, 0);
	assert_stats(fx, 1, 1);

	/* A new transaction can start, and what it commits survives a reopen. */
	assert_int_equal(index_begin(fx->ix), 0);
	add_chunk(fx, "committed", 4);
	assert_int_equal(index_commit(fx->ix), 0);
	store_close(fx->s);
	fx->s = NULL;
	assert_int_equal(store_open(&fx->s, fx->home, 0), 0);
	fx->ix = fx->s->index;
	assert_int_equal(has_chunk(fx, "committed"), 1);
	assert_int_equal(has_chunk(fx, "during"), 0);
	assert_stats(fx, 2, 5);
}

static void reopen(struct fixture *fx)
{
	store_close(fx->s);
	fx->s = NULL;
	assert_int_equal(store_open(&fx->s, fx->home, 0), 0);
	fx->ix = fx->s->index;
}

static void test_nested_savepoints(void **state)
{
	struct fixture *fx = *state;
	assert_int_equal(index_begin(fx->ix), 0);
	add_chunk(fx, "outer", 1);
	/* An inner transaction rolled back undoes only its own changes. */
	assert_int_equal(index_begin(fx->ix), 0);
	add_chunk(fx, "inner", 2);
	index_rollback(fx->ix);
	assert_int_equal(has_chunk(fx, "inner"), 0);
	assert_int_equal(has_chunk(fx, "outer"), 1);
	/* One committed stays in the outer one, durable when that commits. */
	assert_int_equal(index_begin(fx->ix), 0);
	add_chunk(fx, "kept", 4);
	assert_int_equal(index_begin(fx->ix), 0);
	add_chunk(fx, "deeper", 8);
	assert_int_equal(index_commit(fx->ix), 0);
	assert_int_equal(index_commit(fx->ix), 0);
	assert_int_equal(index_commit(fx->ix), 0);
	/* Committing with no transaction open is an error. */
	assert_int_equal(index_commit(fx->ix), SHOAL_EDB);
	reopen(fx);
	assert_int_equal(has_chunk(fx, "outer"), 1);
	assert_int_equal(has_chunk(fx, "kept"), 1);
	assert_int_equal(has_chunk(fx, "deeper"), 1);
	assert_int_equal(has_chunk(fx, "inner"), 0);

	/* Rolling the outer one back undoes the committed inner ones too. */
	assert_int_equal(index_begin(fx->ix), 0);
	add_chunk(fx, "lost", 16);
	assert_int_equal(index_begin(fx->ix), 0);
	add_chunk(fx, "lost-inner", 32);
	assert_int_equal(index_commit(fx->ix), 0);
	index_rollback(fx->ix);
	assert_int_equal(has_chunk(fx, "lost"), 0);
	assert_int_equal(has_chunk(fx, "lost-inner"), 0);
	assert_stats(fx, 3, 13);
}

static void test_store_group(void **state)
{
	struct fixture *fx = *state;
	build_two_files(fx);
	/* Aborted: nothing of the group stays. */
	assert_int_equal(store_group_begin(fx->s), 0);
	assert_int_equal(index_begin(fx->ix), 0);
	add_chunk(fx, "aborted", 1);
	assert_int_equal(index_commit(fx->ix), 0);
	store_group_abort(fx->s);
	assert_int_equal(has_chunk(fx, "aborted"), 0);

	/* Released inside a group: collected only at the group's commit. */
	assert_int_equal(store_group_begin(fx->s), 0);
	assert_int_equal(index_begin(fx->ix), 0);
	add_chunk(fx, "grouped", 1000);
	add_ref(fx, "M2", "grouped");
	assert_int_equal(index_name_remove(fx->ix, "one"), 0);
	assert_int_equal(store_commit_releasing(fx->s), 0);
	assert_int_equal(has_chunk(fx, "c1"), 1);
	assert_int_equal(store_group_commit(fx->s), 0);
	assert_int_equal(has_chunk(fx, "c1"), 0);
	assert_int_equal(has_chunk(fx, "M1"), 0);
	assert_int_equal(has_chunk(fx, "c2"), 1);
	assert_int_equal(has_chunk(fx, "grouped"), 1);

	/* Groups bounded in writes: the third write commits the first two. */
	struct store_group g = {0};
	assert_int_equal(store_group_enter(fx->s, &g, 2, 60), 0);
	add_chunk(fx, "w1", 1);
	add_ref(fx, "M2", "w1");
	assert_int_equal(store_group_enter(fx->s, &g, 2, 60), 0);
	add_chunk(fx, "w2", 1);
	add_ref(fx, "M2", "w2");
	assert_int_equal(store_group_enter(fx->s, &g, 2, 60), 0);
	add_chunk(fx, "w3", 1);
	add_ref(fx, "M2", "w3");
	assert_int_equal(store_group_leave(fx->s, &g, 0), 0);
	assert_int_equal(g.open, 0);
	assert_int_equal(has_chunk(fx, "w1"), 1);
	assert_int_equal(has_chunk(fx, "w2"), 1);
	assert_int_equal(has_chunk(fx, "w3"), 0);
	assert_int_equal(store_group_leave(fx->s, &g, 1), 0);
}

static void test_integrity_check(void **state)
{
	struct fixture *fx = *state;
	assert_int_equal(index_integrity_check(fx->ix), 0);
	build_two_files(fx);
	assert_int_equal(index_integrity_check(fx->ix), 0);

	/* A second index beside the store's, opened and closed on its own. */
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/other.sqlite", fx->home);
	struct index *other = NULL;
	assert_int_equal(index_open(&other, path), 0);
	assert_int_equal(index_integrity_check(other), 0);
	uint8_t id[CHUNK_ID_LEN];
	id_of("a", id);
	assert_int_equal(index_chunk_has(other, id), 0);
	index_close(other);
	index_close(NULL);
}

/* A folder's content stays while a live row names it, and for
 * FOLDERDB_KEEP_SECONDS once it was overwritten or deleted. */
static void folder_row(struct fixture *fx, int v, int deleted, uint64_t seq)
{
	static const uint8_t fid[FOLDER_ID_LEN] = {1}, dev[NODE_ID_LEN] = {2};
	char m[8], c[8];
	snprintf(m, sizeof(m), "M%d", v);
	snprintf(c, sizeof(c), "c%d", v);
	struct folder_entry *e = calloc(1, sizeof(*e));
	assert_non_null(e);
	snprintf(e->path, sizeof(e->path), "%s", "a.txt");
	e->kind = FOLDER_FILE;
	e->has_content = 1;
	id_of(m, e->cap.id);
	e->deleted = deleted;
	e->seq = seq;
	assert_int_equal(index_begin(fx->ix), 0);
	add_chunk(fx, m, 100);
	add_chunk(fx, c, 1000);
	add_ref(fx, m, m);
	add_ref(fx, m, c);
	assert_int_equal(folderdb_row_put(fx->ix, fid, dev, e), 0);
	assert_int_equal(store_commit_releasing(fx->s), 0);
	free(e);
}

static void expire_kept(struct fixture *fx, int64_t at)
{
	assert_int_equal(index_begin(fx->ix), 0);
	assert_int_equal(folderdb_kept_expire(fx->ix, at), 0);
	assert_int_equal(store_commit_releasing(fx->s), 0);
}

static void test_folder_contents_kept(void **state)
{
	struct fixture *fx = *state;
	int64_t now = (int64_t)time(NULL);
	folder_row(fx, 1, 0, 1);
	folder_row(fx, 2, 0, 2);
	/* Overwritten: kept, until the keeping is past. */
	assert_int_equal(has_chunk(fx, "c1"), 1);
	expire_kept(fx, now + 60);
	assert_int_equal(has_chunk(fx, "c1"), 1);
	expire_kept(fx, now + FOLDERDB_KEEP_SECONDS + 60);
	assert_int_equal(has_chunk(fx, "c1"), 0);
	assert_int_equal(has_chunk(fx, "M1"), 0);
	/* Live: kept whatever the clock says. */
	assert_int_equal(has_chunk(fx, "c2"), 1);
	/* A tombstone keeps its last content for a while, then lets it go. */
	folder_row(fx, 2, 1, 3);
	expire_kept(fx, now + 60);
	assert_int_equal(has_chunk(fx, "c2"), 1);
	expire_kept(fx, now + FOLDERDB_KEEP_SECONDS + 60);
	assert_int_equal(has_chunk(fx, "c2"), 0);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	log_init(LOG_LEVEL_ERROR, 0);
	const struct CMUnitTest tests[] = {
		T(test_chunks),
		T(test_names),
		T(test_gc_shared_chunks),
		T(test_gc_two_names_one_manifest),
		T(test_gc_versions_release_old_manifest),
		T(test_refs_move_merges),
		T(test_received_names),
		T(test_pending_tokens_pin_refs),
		T(test_missing_foreach),
		T(test_rollback_discards),
		T(test_nested_savepoints),
		T(test_store_group),
		T(test_integrity_check),
		T(test_folder_contents_kept),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
