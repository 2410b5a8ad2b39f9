/*
 * Ignore rules: which paths of a collaborative folder are left out of sync.
 * The rules come from the folder's synced ".shoalignore" file and from local
 * rules of this node, in the format below (a subset of gitignore's).
 *
 * The text is read one line at a time ('\n' ends a line; a '\r' before it
 * is dropped, so CRLF files read the same):
 *   - a blank line, or one starting with '#', is skipped;
 *   - trailing spaces are trimmed unless escaped ("a\ " keeps its space);
 *   - a leading '!' negates the rule: a path it matches is not ignored.
 *     The last rule that matches a path decides (later lines and later
 *     ignore_add_text() calls come after earlier ones), as in gitignore;
 *   - a trailing '/' makes the rule match directories only ("build/");
 *   - a pattern with a '/' at its start or in its middle is anchored: it is
 *     matched against the whole path from the folder root ("/todo.txt",
 *     "doc/t*.txt"). Otherwise it matches the last component of the path, at
 *     any depth ("*.o" matches "a/b/x.o");
 *   - '*' matches any run of bytes but '/', '?' any one byte but '/', and
 *     "[abc]", "[a-z]", "[!a]" (or "[^a]") one byte of (or not of) a class.
 *     ']' first in a class is literal ("[]x]"); POSIX names such as
 *     "[[:digit:]]" (alnum alpha blank cntrl digit graph lower print punct
 *     space upper xdigit, ASCII) may be used inside one. A class never
 *     matches '/';
 *   - "**" as a whole component matches zero or more directories:
 *     "**" + "/x" is x at any depth, "a/" + "**" + "/b" is b anywhere under
 *     a (a/b included), and a trailing "a/" + "**" everything under a (not a
 *     itself); so is a whole component of three stars or more. "**"
 *     inside a component ("x**y") is the same as '*', never crossing '/'
 *     (git's own matcher lets "a**" + "/b" match "a/x/b"; this one does
 *     not);
 *   - '\' escapes the next byte: "\#" and "\!" start a pattern with '#' or
 *     '!', "\*" is a literal '*', "\ " a space.
 * Matching is byte-wise and case-sensitive ('?' is one byte, not one UTF-8
 * character).
 *
 * A path that lies under an ignored directory is ignored, and no rule can
 * bring it back (as in gitignore: "!build/keep.o" does not help once
 * "build/" is ignored); ignore_match() checks every ancestor for this.
 *
 * Limits: at most IGNORE_MAX_RULES rules in one struct ignore, and lines of
 * at most IGNORE_MAX_LINE bytes. A text that breaks them, or holds a
 * malformed pattern (an unterminated or reversed class, an unknown class
 * name, a '/' inside a class, a trailing lone '\', a NUL byte), is refused
 * whole.
 *
 * A struct ignore is not locked: build it on one thread, then any number of
 * threads may call the match functions at once (they do not write to it).
 */
#ifndef SHOAL_UTIL_IGNORE_H
#define SHOAL_UTIL_IGNORE_H

#include <stddef.h>

#define IGNORE_MAX_RULES 10000
#define IGNORE_MAX_LINE	 4096 /* bytes, without the '\n' */

struct ignore;

/* A new, empty rule set (which ignores nothing) in *out. Returns 0 or
 * -ENOMEM. */
int ignore_new(struct ignore **out);

/*
 * Adds the rules of text (len bytes, not NUL-terminated; the contents of an
 * ignore file) after those already in ig. origin names the text in messages
 * (e.g. ".shoalignore"). Returns 0; SHOAL_EPROTO when a line is malformed or
 * too long, or the rules would be more than IGNORE_MAX_RULES, with a one-line
 * message "ORIGIN:LINE: what" in why (why may be NULL when why_size is 0);
 * or -ENOMEM. On an error, ig is left as it was: no rule of text is added.
 */
int ignore_add_text(struct ignore *ig, const char *text, size_t len, const char *origin, char *why,
		    size_t why_size);

/* How many rules ig holds (skipped lines are not rules). */
size_t ignore_count(const struct ignore *ig);

/*
 * Whether path is ignored: 1 if it is, 0 if not. path is relative to the
 * folder root, '/'-separated, without a leading '/' (a trailing '/' is taken
 * to mean is_dir). is_dir is non-zero when path names a directory. A path
 * under an ignored directory is ignored: each ancestor of path is checked as
 * a directory first. The root itself ("") is never ignored.
 */
int ignore_match(const struct ignore *ig, const char *path, int is_dir);

/*
 * Like ignore_match() but without checking the ancestors: for a walk from
 * the root that already skips ignored directories (cheaper on deep trees).
 */
int ignore_match_entry(const struct ignore *ig, const char *path, int is_dir);

/* Frees ig (NULL is fine). */
void ignore_free(struct ignore *ig);

#endif
