/*
 * Bounded read cursor; see cursor.h.
 */
#include "util/cursor.h"

#include <string.h>

#include "util/error.h"

int cursor_get_ref(struct cursor *c, const uint8_t **out, size_t n)
{
	if (n > c->left)
		return SHOAL_EPROTO;
	*out = c->p;
	if (n) {
		c->p += n;
		c->left -= n;
	}
	return 0;
}

int cursor_skip(struct cursor *c, size_t n)
{
	const uint8_t *ignored;
	return cursor_get_ref(c, &ignored, n);
}

int cursor_get_bytes(struct cursor *c, void *out, size_t n)
{
	const uint8_t *p;
	int err = cursor_get_ref(c, &p, n);
	if (err)
		return err;
	if (n)
		memcpy(out, p, n);
	return 0;
}

int cursor_get_u8(struct cursor *c, uint8_t *out)
{
	return cursor_get_bytes(c, out, 1);
}

int cursor_get_be32(struct cursor *c, uint32_t *out)
{
	const uint8_t *p;
	int err = cursor_get_ref(c, &p, 4);
	if (err)
		return err;
	*out = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
	return 0;
}

int cursor_get_be64(struct cursor *c, uint64_t *out)
{
	uint32_t hi, lo;
	struct cursor save = *c;
	if (cursor_get_be32(c, &hi) || cursor_get_be32(c, &lo)) {
		*c = save;
		return SHOAL_EPROTO;
	}
	*out = (uint64_t)hi << 32 | lo;
	return 0;
}
