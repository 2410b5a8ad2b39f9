/*
 * A bounded read cursor for parsing untrusted bytes. Every getter checks the
 * remaining length first and fails (returning SHOAL_EPROTO, leaving the cursor
 * unchanged) instead of reading past the end.
 */
#ifndef SHOAL_UTIL_CURSOR_H
#define SHOAL_UTIL_CURSOR_H

#include <stddef.h>
#include <stdint.h>

struct cursor {
	const uint8_t *p;
	size_t left;
};

static inline void cursor_init(struct cursor *c, const void *p, size_t n)
{
	c->p = p;
	c->left = n;
}

/* Each returns 0, or SHOAL_EPROTO when fewer bytes than needed remain. */
int cursor_get_u8(struct cursor *c, uint8_t *out);
int cursor_get_be32(struct cursor *c, uint32_t *out);
int cursor_get_be64(struct cursor *c, uint64_t *out);
/* Copies n bytes into out. */
int cursor_get_bytes(struct cursor *c, void *out, size_t n);
/* Points *out at the next n bytes (borrowed from the cursor's memory). */
int cursor_get_ref(struct cursor *c, const uint8_t **out, size_t n);
int cursor_skip(struct cursor *c, size_t n);

#endif
