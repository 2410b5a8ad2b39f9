/*
 * Tests for the plan of an incremental put (src/store/reuse.c): listing
 * order against the walk's (a directory's subtree before a sibling that
 * starts with its name), the unchanged rule (each of size, mtime, its
 * nanoseconds, ctime and inode matters; no inode recorded never matches),
 * and plans over crafted listings and chunk layouts: an unchanged tree
 * reuses every chunk; an edited file leaves out exactly the chunks holding
 * its bytes; a file added between unchanged ones breaks their run; a chunk
 * not stored here makes its run read; empty files and directories do not
 * break a run.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "store/reuse.h"

static void test_path_order(void **state)
{
	(void)state;
	assert_true(reuse_path_cmp("a", "a/b") < 0);
	assert_true(reuse_path_cmp("a/b", "a-c") < 0); /* '-' sorts before '/' bytewise */
	assert_true(reuse_path_cmp("a/z", "ab") < 0);
	assert_true(reuse_path_cmp("a-c", "a/b") > 0);
	assert_true(reuse_path_cmp("b", "a/zzz") > 0);
	assert_int_equal(reuse_path_cmp("d/e", "d/e"), 0);
}

static struct dir_entry file(const char *path, uint64_t size)
{
	return (struct dir_entry){.path = (char *)path,
				  .kind = MANIFEST_FILE,
				  .mode = 0644,
				  .mtime = 1000,
				  .mtime_ns = 5,
				  .size = size,
				  .ctime_ns = 7000000000,
				  .inode = 42};
}

static void test_unchanged_rule(void **state)
{
	(void)state;
	struct dir_entry a = file("x", 10), b = a;
	assert_true(reuse_entry_unchanged(&a, &b));
	b.size = 11;
	assert_false(reuse_entry_unchanged(&a, &b));
	b = a, b.mtime++;
	assert_false(reuse_entry_unchanged(&a, &b));
	b = a, b.mtime_ns++;
	assert_false(reuse_entry_unchanged(&a, &b));
	b = a, b.ctime_ns++;
	assert_false(reuse_entry_unchanged(&a, &b));
	b = a, b.inode++;
	assert_false(reuse_entry_unchanged(&a, &b));
	b = a, b.kind = MANIFEST_DIRECTORY, b.size = 0;
	assert_false(reuse_entry_unchanged(&a, &b));
	a.inode = b.inode = 0; /* a listing from before: nothing recorded */
	b = a;
	assert_false(reuse_entry_unchanged(&a, &b));
}

/* Previous chunks given by their sizes; ids numbered; missing marks one. */
struct chunks {
	const uint32_t *sizes;
	size_t n, at;
	int missing; /* the index of a chunk not stored, or -1 */
};

static int next_ref(void *arg, struct chunk_ref *ref)
{
	struct chunks *c = arg;
	if (c->at == c->n)
		return 1;
	memset(ref, 0, sizeof(*ref));
	ref->id[0] = (uint8_t)c->at;
	ref->size = c->sizes[c->at++];
	return 0;
}

static int present(void *arg, const struct chunk_ref *ref)
{
	struct chunks *c = arg;
	return ref->id[0] != c->missing;
}

/* Plans old[] (previous listing) against now[] (the walk), both in order
 * and merged by path; previous chunks of sizes[]. */
static void plan(struct reuse_plan *p, struct chunks *c, const struct dir_entry *old, size_t nold,
		 const struct dir_entry *now, size_t nnow)
{
	reuse_plan_init(p, next_ref, present, c);
	size_t i = 0, j = 0;
	while (i < nold || j < nnow) {
		int cmp = i == nold ? 1 : j == nnow ? -1 : reuse_path_cmp(old[i].path, now[j].path);
		if (cmp < 0)
			assert_int_equal(reuse_plan_step(p, &old[i++], NULL), 0);
		else if (cmp > 0)
			assert_int_equal(reuse_plan_step(p, NULL, &now[j++]), 0);
		else
			assert_int_equal(reuse_plan_step(p, &old[i++], &now[j++]), 0);
	}
	assert_int_equal(reuse_plan_end(p), 0);
}

/* Four files of 100 bytes; chunks cut across them at 150, 250, 330. */
static const uint32_t sizes4[] = {150, 100, 80, 70};

static void test_unchanged_tree(void **state)
{
	(void)state;
	struct dir_entry t[] = {file("a", 100), file("b", 100), file("c", 100), file("d", 100)};
	struct chunks c = {sizes4, 4, 0, -1};
	struct reuse_plan p;
	plan(&p, &c, t, 4, t, 4);
	assert_int_equal(p.nspans, 1);
	assert_int_equal(p.spans[0].off, 0);
	assert_int_equal(p.spans[0].len, 400);
	assert_int_equal(p.spans[0].nrefs, 4);
	assert_int_equal(p.files, 4);
	assert_int_equal(p.bytes, 400);
	reuse_plan_release(&p);
}

static void test_one_file_edited(void **state)
{
	(void)state;
	struct dir_entry old[] = {file("a", 100), file("b", 100), file("c", 100), file("d", 100)};
	struct dir_entry now[4];
	memcpy(now, old, sizeof(now));
	now[1].mtime++; /* b: bytes 100..200, inside chunks 0 (0..150) and 1 (150..250) */
	struct chunks c = {sizes4, 4, 0, -1};
	struct reuse_plan p;
	plan(&p, &c, old, 4, now, 4);
	/* Run a (0..100) holds no whole chunk; run c, d (200..400) holds 2 and 3. */
	assert_int_equal(p.nspans, 1);
	assert_int_equal(p.spans[0].run_off, 200);
	assert_int_equal(p.spans[0].run_len, 200);
	assert_int_equal(p.spans[0].off, 250);
	assert_int_equal(p.spans[0].len, 150);
	assert_int_equal(p.spans[0].first, 0);
	assert_int_equal(p.spans[0].nrefs, 2);
	assert_int_equal(p.refs[0].id[0], 2);
	assert_int_equal(p.refs[1].id[0], 3);
	assert_int_equal(p.files, 2);
	reuse_plan_release(&p);
}

static void test_file_added_breaks_run(void **state)
{
	(void)state;
	static const uint32_t sizes[] = {100, 100, 100, 100};
	struct dir_entry old[] = {file("a", 100), file("b", 100), file("c", 100), file("d", 100)};
	struct dir_entry now[] = {file("a", 100), file("b", 100), file("b0", 30), file("c", 100),
				  file("d", 100)};
	now[2].inode = 43;
	struct chunks c = {sizes, 4, 0, -1};
	struct reuse_plan p;
	plan(&p, &c, old, 4, now, 5);
	assert_int_equal(p.nspans, 2);
	assert_int_equal(p.spans[0].off, 0);
	assert_int_equal(p.spans[0].len, 200);
	/* c now starts 30 bytes later in the new stream. */
	assert_int_equal(p.spans[1].off, 230);
	assert_int_equal(p.spans[1].len, 200);
	assert_memory_not_equal(p.spans[0].digest, p.spans[1].digest, SHA256_LEN);
	assert_int_equal(p.files, 4);
	reuse_plan_release(&p);
}

static void test_missing_chunk_reads_run(void **state)
{
	(void)state;
	static const uint32_t sizes[] = {100, 100, 100, 100};
	struct dir_entry t[] = {file("a", 100), file("b", 100), file("c", 100), file("d", 100)};
	struct chunks c = {sizes, 4, 0, 2};
	struct reuse_plan p;
	plan(&p, &c, t, 4, t, 4);
	assert_int_equal(p.nspans, 0);
	assert_int_equal(p.nrefs, 0);
	assert_int_equal(p.bytes, 0);
	reuse_plan_release(&p);
}

static void test_empty_and_dirs_keep_run(void **state)
{
	(void)state;
	static const uint32_t sizes[] = {200};
	struct dir_entry dir = {.path = "a/d", .kind = MANIFEST_DIRECTORY, .mode = 0755};
	struct dir_entry old[] = {file("a", 100), file("a0", 100)};
	struct dir_entry now[] = {file("a", 100), dir, file("a/e", 0), file("a0", 100)};
	now[2].inode = 44;
	struct chunks c = {sizes, 1, 0, -1};
	struct reuse_plan p;
	plan(&p, &c, old, 2, now, 4);
	assert_int_equal(p.nspans, 1);
	assert_int_equal(p.spans[0].len, 200);
	reuse_plan_release(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_path_order),
		cmocka_unit_test(test_unchanged_rule),
		cmocka_unit_test(test_unchanged_tree),
		cmocka_unit_test(test_one_file_edited),
		cmocka_unit_test(test_file_added_breaks_run),
		cmocka_unit_test(test_missing_chunk_reads_run),
		cmocka_unit_test(test_empty_and_dirs_keep_run),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
