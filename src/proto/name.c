/*
 * Name validation; see name.h.
 */
#include "proto/name.h"

#include <stdint.h>

#include "util/error.h"

/* Returns the length of the UTF-8 sequence at p (at most n bytes), or 0 when it
 * is not well-formed (overlong forms, surrogates and values past U+10FFFF are
 * rejected). */
static size_t utf8_seq_len(const uint8_t *p, size_t n)
{
	uint8_t c = p[0];
	size_t len;
	uint32_t cp, min;
	if (c < 0x80)
		return 1;
	if ((c & 0xe0) == 0xc0) {
		len = 2, cp = c & 0x1f, min = 0x80;
	} else if ((c & 0xf0) == 0xe0) {
		len = 3, cp = c & 0x0f, min = 0x800;
	} else if ((c & 0xf8) == 0xf0) {
		len = 4, cp = c & 0x07, min = 0x10000;
	} else {
		return 0;
	}
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

int name_validate(const char *s, size_t n)
{
	const uint8_t *p = (const uint8_t *)s;
	if (n == 0 || n > NAME_MAX_LEN)
		return SHOAL_EBADNAME;
	if ((n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
		return SHOAL_EBADNAME;
	if (p[0] == ' ' || p[n - 1] == ' ')
		return SHOAL_EBADNAME;
	for (size_t i = 0; i < n;) {
		if (p[i] < 0x20 || p[i] == 0x7f || p[i] == '/')
			return SHOAL_EBADNAME;
		size_t len = utf8_seq_len(p + i, n - i);
		if (len == 0)
			return SHOAL_EBADNAME;
		i += len;
	}
	return 0;
}
