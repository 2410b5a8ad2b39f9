/*
 * libFuzzer harness for the text a user or peer hands us: capability strings
 * (src/proto/capability.h) and names (src/proto/name.h). The input, copied
 * with a NUL appended, goes to capability_parse(); a parsed capability must
 * format back to the same text and parse again to the same value, and a
 * rejected one must leave its output untouched. The raw bytes also go to
 * name_validate(), whose verdict is checked against an independent statement
 * of the rule (length, forbidden bytes, "." and "..", spaces at the ends, and
 * well-formed UTF-8 per Unicode Table 3-7). A broken property aborts.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/capability.h"
#include "proto/name.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fail(const char *what)
{
	fprintf(stderr, "fuzz_capability: %s\n", what);
	abort();
}

static char ascii_lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/*
 * Whether text (the formatted form) spells s. base32_decode accepts either
 * case, as util/encoding.h documents, so upper-case digits parse too and are
 * folded here; the prefix, the separator and the length must match exactly.
 */
static int spells(const char *text, const char *s)
{
	size_t prefix = strlen(CAPABILITY_PREFIX);

	if (memcmp(text, s, prefix) != 0)
		return 0;
	for (size_t i = prefix; i <= CAPABILITY_STR_LEN; i++) {
		if (ascii_lower(s[i]) != text[i])
			return 0;
	}
	return 1;
}

static void check_capability(const char *s)
{
	struct capability cap, again;
	char text[CAPABILITY_STR_LEN + 1];

	memset(&cap, 0xa5, sizeof(cap));
	if (capability_parse(&cap, s)) {
		for (size_t i = 0; i < sizeof(cap); i++) {
			if (((const uint8_t *)&cap)[i] != 0xa5)
				fail("capability_parse wrote its output on error");
		}
		return;
	}
	if (!capability_looks_like(s))
		fail("capability_parse accepted what capability_looks_like rejects");
	memset(text, 0, sizeof(text));
	capability_format(&cap, text);
	if (strnlen(text, sizeof(text)) != CAPABILITY_STR_LEN)
		fail("capability_format wrote the wrong length");
	if (!spells(text, s))
		fail("capability does not format back to its text");
	if (capability_parse(&again, text))
		fail("capability_parse rejected capability_format's text");
	if (memcmp(again.id, cap.id, sizeof(cap.id)) || memcmp(again.key, cap.key, sizeof(cap.key)))
		fail("capability changed across format and parse");
}

/* Length of the well-formed UTF-8 sequence at p[0..n) (Unicode Table 3-7), or 0. */
static size_t utf8_wellformed(const uint8_t *p, size_t n)
{
	uint8_t c = p[0], lo = 0x80, hi = 0xbf;
	size_t len;

	if (c <= 0x7f)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		len = 2;
	else if (c >= 0xe0 && c <= 0xef)
		len = 3;
	else if (c >= 0xf0 && c <= 0xf4)
		len = 4;
	else
		return 0;
	/* The second byte's range is what excludes overlongs, surrogates and
	 * values past U+10FFFF. */
	if (c == 0xe0)
		lo = 0xa0;
	else if (c == 0xed)
		hi = 0x9f;
	else if (c == 0xf0)
		lo = 0x90;
	else if (c == 0xf4)
		hi = 0x8f;
	if (n < len || p[1] < lo || p[1] > hi)
		return 0;
	for (size_t i = 2; i < len; i++) {
		if (p[i] < 0x80 || p[i] > 0xbf)
			return 0;
	}
	return len;
}

static int name_expected_valid(const uint8_t *p, size_t n)
{
	if (n == 0 || n > NAME_MAX_LEN)
		return 0;
	if ((n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
		return 0;
	if (p[0] == ' ' || p[n - 1] == ' ')
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (p[i] < 0x20 || p[i] == 0x7f || p[i] == '/')
			return 0;
	}
	for (size_t i = 0, len; i < n; i += len) {
		len = utf8_wellformed(p + i, n - i);
		if (len == 0)
			return 0;
	}
	return 1;
}

static void check_name(const uint8_t *data, size_t size)
{
	int valid = name_validate((const char *)data, size) == 0;

	if (valid) {
		/* The properties that keep a name from escaping a directory, stated
		 * plainly in case the rule below shares a blind spot with name.c. */
		if (memchr(data, '/', size))
			fail("name_validate accepted a '/'");
		for (size_t i = 0; i < size; i++) {
			if (data[i] < 0x20 || data[i] == 0x7f)
				fail("name_validate accepted a control byte");
		}
		if ((size == 1 && data[0] == '.') ||
		    (size == 2 && data[0] == '.' && data[1] == '.'))
			fail("name_validate accepted \".\" or \"..\"");
	}
	if (valid != name_expected_valid(data, size))
		fail(valid ? "name_validate accepted an invalid name"
			   : "name_validate rejected a valid name");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);

	if (!s)
		abort();
	memcpy(s, data, size);
	s[size] = '\0';
	check_capability(s);
	free(s);
	check_name(data, size);
	return 0;
}
