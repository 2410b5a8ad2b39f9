/*
 * Ignore rules (a gitignore subset); see ignore.h.
 *
 * A rule is its pattern split at '/' into components. Matching works on the
 * path string in place (no allocation, no recursion): within a component,
 * '*' is matched by the usual greedy scan that backtracks to the last '*'
 * only, and across components "**" is handled the same way, each other
 * component standing for exactly one path component. Both scans are
 * O(pattern x subject) at worst, so a hostile ".shoalignore" from another
 * member (many "**", many '*') cannot make matching exponential.
 */
#include "util/ignore.h"

#include "util/error.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum comp_kind {
	COMP_GLOB,     /* one path component matched by a glob */
	COMP_STARSTAR, /* zero or more whole components */
	COMP_ANY,      /* exactly one component, whatever its name */
};

struct comp {
	const char *pat; /* not NUL-terminated: len bytes */
	size_t len;
	enum comp_kind kind;
};

struct rule {
	struct comp *comps; /* the allocation, which holds text too */
	char *text;	    /* the pattern, which comps point into */
	unsigned ncomps;
	unsigned char negate, dir_only, anchored;
};

struct ignore {
	struct rule *rules;
	size_t count, cap;
};

/* Whether byte c belongs to the POSIX class named name[0..len) (ASCII).
 * Returns -1 for an unknown name. */
static int class_named(const char *name, size_t len, int c)
{
	static const struct {
		const char *name;
		const char *lo, *hi; /* ranges, as parallel strings */
	} classes[] = {
		{"alnum", "0aA", "9zZ"},   {"alpha", "aA", "zZ"},
		{"blank", " \t", " \t"},   {"cntrl", "\x01\x7f", "\x1f\x7f"},
		{"digit", "0", "9"},	   {"graph", "!", "~"},
		{"lower", "a", "z"},	   {"print", " ", "~"},
		{"punct", "!:[{", "/@`~"}, {"space", "\t ", "\r "},
		{"upper", "A", "Z"},	   {"xdigit", "0aA", "9fF"},
	};
	for (size_t i = 0; i < sizeof(classes) / sizeof(classes[0]); i++) {
		if (strlen(classes[i].name) != len || memcmp(classes[i].name, name, len))
			continue;
		for (const char *lo = classes[i].lo, *hi = classes[i].hi; *lo; lo++, hi++)
			if (c >= (unsigned char)*lo && c <= (unsigned char)*hi)
				return 1;
		return 0;
	}
	return -1;
}

/*
 * Reads the class that starts just after a '[' at p (pattern ends at end)
 * and tells whether byte c (-1 to only check the syntax) is in it. Returns
 * the position after its ']', or NULL with *err set when it is malformed.
 */
static const char *class_scan(const char *p, const char *end, int c, int *matched, const char **err)
{
	int neg = 0, hit = 0, first = 1;
	if (p < end && (*p == '!' || *p == '^')) {
		neg = 1;
		p++;
	}
	for (;;) {
		if (p >= end) {
			*err = "unterminated class '['";
			return NULL;
		}
		if (*p == ']' && !first) {
			p++;
			break;
		}
		first = 0;
		if (*p == '[' && p + 1 < end && p[1] == ':') {
			const char *q = p + 2;
			while (q + 1 < end && !(q[0] == ':' && q[1] == ']'))
				q++;
			if (q + 1 < end) {
				int in = class_named(p + 2, (size_t)(q - (p + 2)), c);
				if (in < 0) {
					*err = "unknown class name in '[:name:]'";
					return NULL;
				}
				hit |= in;
				p = q + 2;
				continue;
			}
			/* No ":]" follows: the '[' is an ordinary byte. */
		}
		int lo = (unsigned char)*p;
		if (lo == '\\') {
			if (++p >= end) {
				*err = "unterminated class '['";
				return NULL;
			}
			lo = (unsigned char)*p;
		}
		p++;
		int hi = lo;
		if (p + 1 < end && *p == '-' && p[1] != ']') {
			p++;
			hi = (unsigned char)*p;
			if (hi == '\\') {
				if (++p >= end) {
					*err = "unterminated class '['";
					return NULL;
				}
				hi = (unsigned char)*p;
			}
			p++;
			if (hi < lo) {
				*err = "reversed range in a class";
				return NULL;
			}
		}
		if (lo == '/' || hi == '/' || (lo < '/' && hi > '/')) {
			*err = "a class may not hold '/'";
			return NULL;
		}
		if (c >= lo && c <= hi)
			hit = 1;
	}
	*matched = hit ^ neg;
	return p;
}

/* Whether the glob p[0..pe) matches the whole of s[0..se) (one component:
 * neither holds '/'). */
static int glob_match(const char *p, const char *pe, const char *s, const char *se)
{
	const char *star_p = NULL, *star_s = NULL;
	while (s < se) {
		if (p < pe) {
			if (*p == '*') {
				while (p < pe && *p == '*')
					p++;
				star_p = p;
				star_s = s;
				continue;
			}
			if (*p == '?') {
				p++;
				s++;
				continue;
			}
			if (*p == '[') {
				int in = 0;
				const char *err;
				const char *q = class_scan(p + 1, pe, (unsigned char)*s, &in, &err);
				if (q) {
					if (in) {
						p = q;
						s++;
						continue;
					}
					goto backtrack;
				}
				/* Refused when added, so never here; an ordinary '['. */
			}
			if (*p == '\\' && p + 1 < pe) {
				if (p[1] == *s) {
					p += 2;
					s++;
					continue;
				}
				goto backtrack;
			}
			if (*p == *s) {
				p++;
				s++;
				continue;
			}
		}
	backtrack:
		if (!star_p)
			return 0;
		p = star_p;
		s = ++star_s;
	}
	while (p < pe && *p == '*')
		p++;
	return p == pe;
}

/* Where the component of s (n bytes) starting at i ends. */
static size_t comp_end(const char *s, size_t n, size_t i)
{
	const char *e = memchr(s + i, '/', n - i);
	return e ? (size_t)(e - s) : n;
}

/* Whether an anchored rule matches the whole path s[0..n). */
static int anchored_match(const struct rule *r, const char *s, size_t n)
{
	unsigned pi = 0, star_pi = UINT_MAX;
	size_t si = 0, star_si = 0;
	while (si <= n) {
		size_t se = comp_end(s, n, si);
		if (pi < r->ncomps) {
			const struct comp *c = &r->comps[pi];
			if (c->kind == COMP_STARSTAR) {
				star_pi = ++pi;
				star_si = si;
				continue;
			}
			if (c->kind == COMP_ANY ||
			    glob_match(c->pat, c->pat + c->len, s + si, s + se)) {
				pi++;
				si = se + 1;
				continue;
			}
		}
		if (star_pi == UINT_MAX)
			return 0;
		/* Let the last "**" take one more component. */
		pi = star_pi;
		star_si = comp_end(s, n, star_si) + 1;
		si = star_si;
	}
	while (pi < r->ncomps && r->comps[pi].kind == COMP_STARSTAR)
		pi++;
	return pi == r->ncomps;
}

static int rule_match(const struct rule *r, const char *s, size_t n, int is_dir)
{
	if (r->dir_only && !is_dir)
		return 0;
	if (r->anchored)
		return anchored_match(r, s, n);
	const char *base = s + n;
	while (base > s && base[-1] != '/')
		base--;
	const struct comp *c = &r->comps[0];
	return glob_match(c->pat, c->pat + c->len, base, s + n);
}

/* The verdict of the last rule matching s[0..n), or 0. */
static int match_one(const struct ignore *ig, const char *s, size_t n, int is_dir)
{
	for (size_t i = ig->count; i-- > 0;)
		if (rule_match(&ig->rules[i], s, n, is_dir))
			return !ig->rules[i].negate;
	return 0;
}

/* Trims path's leading '/'s and a trailing one (which makes it a directory);
 * returns its length. */
static size_t path_trim(const char **path, int *is_dir)
{
	while (**path == '/')
		(*path)++;
	size_t n = strlen(*path);
	while (n > 0 && (*path)[n - 1] == '/') {
		n--;
		*is_dir = 1;
	}
	return n;
}

int ignore_match_entry(const struct ignore *ig, const char *path, int is_dir)
{
	size_t n = path_trim(&path, &is_dir);
	return n > 0 && match_one(ig, path, n, is_dir);
}

int ignore_match(const struct ignore *ig, const char *path, int is_dir)
{
	size_t n = path_trim(&path, &is_dir);
	if (n == 0)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (path[i] == '/' && i > 0 && match_one(ig, path, i, 1))
			return 1;
	return match_one(ig, path, n, is_dir);
}

static void say(char *why, size_t why_size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void say(char *why, size_t why_size, const char *fmt, ...)
{
	if (!why || !why_size)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, why_size, fmt, ap);
	va_end(ap);
}

/* Checks the escapes and classes of pattern p[0..n). Returns NULL or what is
 * wrong. */
static const char *pattern_check(const char *p, size_t n)
{
	const char *end = p + n;
	while (p < end) {
		if (*p == '\\') {
			if (p + 1 >= end)
				return "a trailing '\\' escapes nothing";
			p += 2;
		} else if (*p == '[') {
			int in;
			const char *err = NULL;
			p = class_scan(p + 1, end, -1, &in, &err);
			if (!p)
				return err;
		} else {
			p++;
		}
	}
	return NULL;
}

/*
 * Turns line l[0..len) (no '\n') into a rule in *r. Returns 1 (a rule), 0
 * (nothing: blank or comment), -ENOMEM, or SHOAL_EPROTO with *err set.
 */
static int parse_line(const char *l, size_t len, struct rule *r, const char **err)
{
	if (memchr(l, 0, len)) {
		*err = "a NUL byte";
		return SHOAL_EPROTO;
	}
	if (len > 0 && l[len - 1] == '\r')
		len--;
	if (len == 0 || l[0] == '#')
		return 0;
	while (len > 0 && l[len - 1] == ' ') {
		size_t k = 0;
		while (k + 1 < len && l[len - 2 - k] == '\\')
			k++;
		if (k % 2)
			break; /* an escaped space stays */
		len--;
	}
	memset(r, 0, sizeof(*r));
	if (len > 0 && l[0] == '!') {
		r->negate = 1;
		l++;
		len--;
	}
	if (len > 0 && l[len - 1] == '/') {
		r->dir_only = 1; /* only one: "a//" is "a/" + "" + "/", matching nothing */
		len--;
	}
	if (len > 0 && l[0] == '/') {
		r->anchored = 1;
		l++;
		len--;
	}
	if (len == 0)
		return 0; /* "", "!", "/": nothing to match */
	if (memchr(l, '/', len))
		r->anchored = 1;
	if ((*err = pattern_check(l, len)))
		return SHOAL_EPROTO;

	unsigned n = 1;
	for (size_t i = 0; i < len; i++)
		n += l[i] == '/';
	/* One more component for a trailing "**", which becomes ANY + "**".
	 * The components come first in the block (aligned), the text after. */
	r->comps = malloc((n + 1) * sizeof(struct comp) + len + 1);
	if (!r->comps)
		return -ENOMEM;
	r->text = (char *)(r->comps + n + 1);
	memcpy(r->text, l, len);
	r->text[len] = 0;
	const char *s = r->text;
	for (unsigned i = 0; i < n; i++) {
		const char *e = strchr(s, '/');
		size_t clen = e ? (size_t)(e - s) : strlen(s);
		struct comp *c = &r->comps[r->ncomps++];
		c->pat = s;
		c->len = clen;
		/* "**" as a whole component (as in git, "***" is the same). */
		c->kind = clen >= 2 && strspn(s, "*") == clen ? COMP_STARSTAR : COMP_GLOB;
		s += clen + 1;
	}
	if (r->anchored && r->comps[r->ncomps - 1].kind == COMP_STARSTAR) {
		r->comps[r->ncomps - 1].kind = COMP_ANY;
		r->comps[r->ncomps++] = (struct comp){.pat = "", .len = 0, .kind = COMP_STARSTAR};
	}
	return 1;
}

int ignore_new(struct ignore **out)
{
	*out = calloc(1, sizeof(**out));
	return *out ? 0 : -ENOMEM;
}

size_t ignore_count(const struct ignore *ig)
{
	return ig->count;
}

int ignore_add_text(struct ignore *ig, const char *text, size_t len, const char *origin, char *why,
		    size_t why_size)
{
	size_t before = ig->count;
	unsigned line = 0;
	const char *p = text, *end = text + len;
	int rc = 0;
	if (why && why_size)
		why[0] = 0;
	while (p < end) {
		line++;
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
		if (n > IGNORE_MAX_LINE) {
			say(why, why_size, "%s:%u: line longer than %d bytes", origin, line,
			    IGNORE_MAX_LINE);
			rc = SHOAL_EPROTO;
			break;
		}
		struct rule r;
		const char *err = NULL;
		rc = parse_line(p, n, &r, &err);
		if (rc < 0) {
			if (err)
				say(why, why_size, "%s:%u: %s", origin, line, err);
			break;
		}
		p += n + (nl != NULL);
		if (rc == 0)
			continue;
		rc = 0;
		if (ig->count >= IGNORE_MAX_RULES) {
			free(r.comps);
			say(why, why_size, "%s:%u: more than %d rules", origin, line,
			    IGNORE_MAX_RULES);
			rc = SHOAL_EPROTO;
			break;
		}
		if (ig->count == ig->cap) {
			size_t cap = ig->cap ? ig->cap * 2 : 16;
			struct rule *rules = realloc(ig->rules, cap * sizeof(*rules));
			if (!rules) {
				free(r.comps);
				rc = -ENOMEM;
				break;
			}
			ig->rules = rules;
			ig->cap = cap;
		}
		ig->rules[ig->count++] = r;
	}
	if (rc < 0) {
		while (ig->count > before)
			free(ig->rules[--ig->count].comps);
	}
	return rc;
}

void ignore_free(struct ignore *ig)
{
	if (!ig)
		return;
	for (size_t i = 0; i < ig->count; i++)
		free(ig->rules[i].comps);
	free(ig->rules);
	free(ig);
}
