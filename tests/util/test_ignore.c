/*
 * Tests for src/util/ignore.c: the ignore-file format (comments, blanks,
 * trailing spaces, escapes), each pattern feature (basename and anchored
 * patterns, directory-only rules, '*', '?', classes, "**"), negation and its
 * order, ancestors, the limits and the refusal of malformed text (which adds
 * nothing).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "util/error.h"
#include "util/ignore.h"

static struct ignore *ig;
static char why[256];

static int setup(void **state)
{
	(void)state;
	why[0] = 0;
	return ignore_new(&ig);
}

static int teardown(void **state)
{
	(void)state;
	ignore_free(ig);
	ig = NULL;
	return 0;
}

static int add(const char *text)
{
	return ignore_add_text(ig, text, strlen(text), ".shoalignore", why, sizeof(why));
}

/* path is a file unless it ends in '/'. */
static int ign(const char *path)
{
	return ignore_match(ig, path, 0);
}

static int ign_dir(const char *path)
{
	return ignore_match(ig, path, 1);
}

static void test_empty_ignores_nothing(void **state)
{
	(void)state;
	assert_int_equal(ignore_count(ig), 0);
	assert_int_equal(ign("a"), 0);
	assert_int_equal(ign_dir("a/b"), 0);
	assert_int_equal(add(""), 0);
	assert_int_equal(add("\n\n# only a comment\n   \n"), 0);
	assert_int_equal(ignore_count(ig), 0);
	assert_int_equal(ign("# only a comment"), 0);
}

static void test_basename_any_depth(void **state)
{
	(void)state;
	assert_int_equal(add("*.o\nfoo\n"), 0);
	assert_int_equal(ignore_count(ig), 2);
	assert_int_equal(ign("x.o"), 1);
	assert_int_equal(ign("a/b/c.o"), 1);
	assert_int_equal(ign("a/b/c.oo"), 0);
	assert_int_equal(ign("x.o.c"), 0);
	assert_int_equal(ign(".o"), 1);
	assert_int_equal(ign("foo"), 1);
	assert_int_equal(ign_dir("a/foo"), 1);
	assert_int_equal(ign("a/foo/bar"), 1); /* under an ignored directory */
	assert_int_equal(ign("foobar"), 0);
	assert_int_equal(ign("a/xfoo"), 0);
}

static void test_anchored(void **state)
{
	(void)state;
	assert_int_equal(add("/top\ndoc/*.txt\nx/y/\n"), 0);
	assert_int_equal(ign("top"), 1);
	assert_int_equal(ign("a/top"), 0);
	assert_int_equal(ign("doc/a.txt"), 1);
	assert_int_equal(ign("doc/sub/a.txt"), 0); /* '*' does not cross '/' */
	assert_int_equal(ign("a/doc/a.txt"), 0);
	assert_int_equal(ign_dir("x/y"), 1);
	assert_int_equal(ign("x/y"), 0); /* a file: a directory-only rule */
	assert_int_equal(ign("x/y/z"), 1);
	assert_int_equal(ign("q/x/y/z"), 0);
}

static void test_dir_only(void **state)
{
	(void)state;
	assert_int_equal(add("build/\n"), 0);
	assert_int_equal(ign_dir("build"), 1);
	assert_int_equal(ign("build"), 0);
	assert_int_equal(ign_dir("src/build"), 1);
	assert_int_equal(ign("src/build/x.o"), 1);
	assert_int_equal(ign("build/x/y.o"), 1);
	assert_int_equal(ign("builds/x"), 0);
	/* A trailing '/' on the path says it is a directory. */
	assert_int_equal(ignore_match(ig, "build/", 0), 1);
}

static void test_negation_last_match_wins(void **state)
{
	(void)state;
	assert_int_equal(add("*.log\n!keep.log\n"), 0);
	assert_int_equal(ign("a.log"), 1);
	assert_int_equal(ign("keep.log"), 0);
	assert_int_equal(ign("d/keep.log"), 0);
	/* A later rule overrides the negation again. */
	assert_int_equal(add("/d/keep.log\n"), 0);
	assert_int_equal(ign("d/keep.log"), 1);
	assert_int_equal(ign("keep.log"), 0);
	/* Order matters: the negation first does nothing. */
	teardown(NULL);
	setup(NULL);
	assert_int_equal(add("!keep.log\n*.log\n"), 0);
	assert_int_equal(ign("keep.log"), 1);
}

static void test_negation_cannot_reinclude_under_ignored_dir(void **state)
{
	(void)state;
	assert_int_equal(add("build/\n!build/keep.o\n"), 0);
	assert_int_equal(ign("build/keep.o"), 1);
	/* But ignoring the contents (not the directory) lets a file back in. */
	teardown(NULL);
	setup(NULL);
	assert_int_equal(add("build/*\n!build/keep.o\n"), 0);
	assert_int_equal(ign_dir("build"), 0);
	assert_int_equal(ign("build/keep.o"), 0);
	assert_int_equal(ign("build/other.o"), 1);
	/* And a negated directory un-ignores what is under it. */
	teardown(NULL);
	setup(NULL);
	assert_int_equal(add("cache/\n!/keep/cache/\n"), 0);
	assert_int_equal(ign("a/cache/x"), 1);
	assert_int_equal(ign("keep/cache/x"), 0);
}

static void test_question_and_star(void **state)
{
	(void)state;
	assert_int_equal(add("a?c\n/x*y*z\n"), 0);
	assert_int_equal(ign("abc"), 1);
	assert_int_equal(ign("d/a.c"), 1);
	assert_int_equal(ign("ac"), 0);
	assert_int_equal(ign("abbc"), 0);
	assert_int_equal(ign("xyz"), 1);
	assert_int_equal(ign("x__y__y__z"), 1);
	assert_int_equal(ign("x__y__z_"), 0);
	assert_int_equal(ign("xz"), 0);
	assert_int_equal(ign("x/y/z"), 0);
}

static void test_classes(void **state)
{
	(void)state;
	assert_int_equal(add("file[0-9].txt\n[!a]b\nq[]x]\nn[[:digit:][:upper:]]\nm[^m]\n"), 0);
	assert_int_equal(ign("file3.txt"), 1);
	assert_int_equal(ign("filex.txt"), 0);
	assert_int_equal(ign("file.txt"), 0);
	assert_int_equal(ign("cb"), 1);
	assert_int_equal(ign("ab"), 0);
	assert_int_equal(ign("q]"), 1);
	assert_int_equal(ign("qx"), 1);
	assert_int_equal(ign("qy"), 0);
	assert_int_equal(ign("n7"), 1);
	assert_int_equal(ign("nQ"), 1);
	assert_int_equal(ign("nq"), 0);
	assert_int_equal(ign("mx"), 1);
	assert_int_equal(ign("mm"), 0);
	assert_int_equal(add("[a-c-]z\n"), 0); /* a trailing '-' is literal */
	assert_int_equal(ign("-z"), 1);
	assert_int_equal(ign("bz"), 1);
	assert_int_equal(ign("dz"), 0);
}

static void test_double_star(void **state)
{
	(void)state;
	assert_int_equal(add("**/logs\n/a/**/b\n/c/**\n"), 0);
	assert_int_equal(ign_dir("logs"), 1);
	assert_int_equal(ign_dir("x/y/logs"), 1);
	assert_int_equal(ign("x/logs/f"), 1);
	assert_int_equal(ign("a/b"), 1);
	assert_int_equal(ign("a/x/b"), 1);
	assert_int_equal(ign("a/x/y/z/b"), 1);
	assert_int_equal(ign("a/x/bb"), 0);
	assert_int_equal(ign("b"), 0);
	assert_int_equal(ign_dir("c"), 0); /* "c/" + "**" is what is under c */
	assert_int_equal(ign("c/x"), 1);
	assert_int_equal(ign("c/x/y"), 1);
	assert_int_equal(ign("d/c/x"), 0);
	/* A whole component of three stars or more is "**" too (as in git). */
	assert_int_equal(add("/q/***/z\n"), 0);
	assert_int_equal(ign("q/z"), 1);
	assert_int_equal(ign("q/x/y/z"), 1);
}

static void test_empty_components_match_nothing(void **state)
{
	(void)state;
	/* As in git: one trailing '/' is taken off, the rest stays. */
	assert_int_equal(add("x//\n//y\na//b\n"), 0);
	assert_int_equal(ignore_count(ig), 3);
	assert_int_equal(ign_dir("x"), 0);
	assert_int_equal(ign("y"), 0);
	assert_int_equal(ign("a/b"), 0);
}

static void test_double_star_middle_of_component(void **state)
{
	(void)state;
	/* "**" inside a component is '*': it does not cross '/'. */
	assert_int_equal(add("/x**y\n"), 0);
	assert_int_equal(ign("xaay"), 1);
	assert_int_equal(ign("xa/ay"), 0);
}

static void test_many_double_stars_stay_fast(void **state)
{
	(void)state;
	/* Exponential in a naive matcher; must return at once. */
	assert_int_equal(add("/**/a/**/a/**/a/**/a/**/a/**/a/**/a/**/a/**/b\n"
			     "*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b\n"),
			 0);
	char path[2048] = "";
	for (int i = 0; i < 400; i++)
		strcat(path, "a/");
	strcat(path, "c");
	assert_int_equal(ignore_match_entry(ig, path, 0), 0);
	char name[1024];
	memset(name, 'a', sizeof(name) - 2);
	name[sizeof(name) - 2] = 'c';
	name[sizeof(name) - 1] = 0;
	assert_int_equal(ign(name), 0);
	name[sizeof(name) - 2] = 'b';
	assert_int_equal(ign(name), 1);
}

static void test_escapes_and_spaces(void **state)
{
	(void)state;
	assert_int_equal(add("\\#hash\n\\!bang\nsp\\ \ntrail   \n\\*\n"), 0);
	assert_int_equal(ignore_count(ig), 5);
	assert_int_equal(ign("#hash"), 1);
	assert_int_equal(ign("!bang"), 1);
	assert_int_equal(ign("bang"), 0);
	assert_int_equal(ign("sp "), 1);
	assert_int_equal(ign("sp"), 0);
	assert_int_equal(ign("trail"), 1);
	assert_int_equal(ign("trail "), 0);
	assert_int_equal(ign("*"), 1);
	assert_int_equal(ign("x"), 0);
}

static void test_crlf_and_no_final_newline(void **state)
{
	(void)state;
	assert_int_equal(add("a.tmp\r\n# c\r\nb.tmp"), 0);
	assert_int_equal(ignore_count(ig), 2);
	assert_int_equal(ign("a.tmp"), 1);
	assert_int_equal(ign("b.tmp"), 1);
}

static void test_root_and_odd_paths(void **state)
{
	(void)state;
	assert_int_equal(add("*\n"), 0);
	assert_int_equal(ign_dir(""), 0);
	assert_int_equal(ign("x"), 1);
	assert_int_equal(ignore_match_entry(ig, "", 1), 0);
	/* Lines of only '!' or '/' are no rules. */
	teardown(NULL);
	setup(NULL);
	assert_int_equal(add("!\n/\n!/\n"), 0);
	assert_int_equal(ignore_count(ig), 0);
}

static void test_match_entry_skips_ancestors(void **state)
{
	(void)state;
	assert_int_equal(add("build/\n"), 0);
	assert_int_equal(ign("build/x.o"), 1);
	assert_int_equal(ignore_match_entry(ig, "build/x.o", 0), 0);
	assert_int_equal(ignore_match_entry(ig, "build", 1), 1);
}

static void test_bad_classes_refused(void **state)
{
	(void)state;
	static const char *const bad[] = {
		"a[bc\n", "x[z-a]\n", "[[:nope:]]\n", "a[/]b\n", "a[.-0]\n", "ab\\\n",
	};
	assert_int_equal(add("ok\n"), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why[0] = 0;
		assert_int_equal(add(bad[i]), SHOAL_EPROTO);
		assert_true(strncmp(why, ".shoalignore:1: ", 16) == 0);
		assert_null(strchr(why, '\n'));
		assert_int_equal(ignore_count(ig), 1);
	}
}

static void test_refusal_adds_nothing(void **state)
{
	(void)state;
	assert_int_equal(add("one\ntwo\n[bad\nthree\n"), SHOAL_EPROTO);
	assert_string_equal(why, ".shoalignore:3: unterminated class '['");
	assert_int_equal(ignore_count(ig), 0);
	assert_int_equal(ign("one"), 0);
	/* A NUL byte is refused too. */
	assert_int_equal(ignore_add_text(ig, "a\0b\n", 4, "local", why, sizeof(why)), SHOAL_EPROTO);
	assert_string_equal(why, "local:1: a NUL byte");
	/* why may be absent. */
	assert_int_equal(ignore_add_text(ig, "[", 1, "x", NULL, 0), SHOAL_EPROTO);
}

static void test_line_cap(void **state)
{
	(void)state;
	size_t n = IGNORE_MAX_LINE + 1;
	char *text = malloc(n + 8);
	assert_non_null(text);
	memcpy(text, "ok\n", 3);
	memset(text + 3, 'x', n);
	assert_int_equal(ignore_add_text(ig, text, 3 + n, "big", why, sizeof(why)), SHOAL_EPROTO);
	assert_string_equal(why, "big:2: line longer than 4096 bytes");
	assert_int_equal(ignore_count(ig), 0);
	/* Exactly the cap is fine. */
	assert_int_equal(ignore_add_text(ig, text, 3 + n - 1, "big", why, sizeof(why)), 0);
	assert_int_equal(ignore_count(ig), 2);
	free(text);
}

static void test_rule_cap(void **state)
{
	(void)state;
	size_t size = (IGNORE_MAX_RULES + 1) * 8;
	char *text = malloc(size);
	assert_non_null(text);
	size_t len = 0;
	for (int i = 0; i < IGNORE_MAX_RULES; i++)
		len += (size_t)sprintf(text + len, "r%d\n", i);
	assert_int_equal(ignore_add_text(ig, text, len, "many", why, sizeof(why)), 0);
	assert_int_equal(ignore_count(ig), IGNORE_MAX_RULES);
	assert_int_equal(ign("r9999"), 1);
	assert_int_equal(ign("r10000"), 0);
	/* Comments do not count; one rule more is refused. */
	assert_int_equal(add("# comment\n\n"), 0);
	assert_int_equal(add("one-more\n"), SHOAL_EPROTO);
	assert_string_equal(why, ".shoalignore:1: more than 10000 rules");
	assert_int_equal(ignore_count(ig), IGNORE_MAX_RULES);
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_empty_ignores_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_basename_any_depth, setup, teardown),
		cmocka_unit_test_setup_teardown(test_anchored, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dir_only, setup, teardown),
		cmocka_unit_test_setup_teardown(test_negation_last_match_wins, setup, teardown),
		cmocka_unit_test_setup_teardown(test_negation_cannot_reinclude_under_ignored_dir,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_question_and_star, setup, teardown),
		cmocka_unit_test_setup_teardown(test_classes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_double_star, setup, teardown),
		cmocka_unit_test_setup_teardown(test_empty_components_match_nothing, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_double_star_middle_of_component, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_many_double_stars_stay_fast, setup, teardown),
		cmocka_unit_test_setup_teardown(test_escapes_and_spaces, setup, teardown),
		cmocka_unit_test_setup_teardown(test_crlf_and_no_final_newline, setup, teardown),
		cmocka_unit_test_setup_teardown(test_root_and_odd_paths, setup, teardown),
		cmocka_unit_test_setup_teardown(test_match_entry_skips_ancestors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_classes_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refusal_adds_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_line_cap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rule_cap, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
