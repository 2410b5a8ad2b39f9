/*
 * Growable byte buffer; see buf.h.
 */
#include "util/buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"

void buf_init(struct buf *b)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
}

void buf_release(struct buf *b)
{
	free(b->data);
	buf_init(b);
}

void buf_grow(struct buf *b, size_t extra)
{
	if (extra > SIZE_MAX / 2 - b->len)
		fatalx("buffer size overflow");
	size_t need = b->len + extra + 1;
	if (need <= b->cap)
		return;
	size_t cap = b->cap ? b->cap : 64;
	while (cap < need)
		cap *= 2;
	uint8_t *p = realloc(b->data, cap);
	if (!p)
		fatalx("out of memory (%zu bytes)", cap);
	b->data = p;
	b->cap = cap;
	b->data[b->len] = 0;
}

void buf_reset(struct buf *b)
{
	buf_setlen(b, 0);
}

void buf_setlen(struct buf *b, size_t n)
{
	if (!b->data) {
		if (n == 0)
			return;
		fatalx("buf_setlen beyond capacity");
	}
	if (n >= b->cap)
		fatalx("buf_setlen beyond capacity");
	b->len = n;
	b->data[n] = 0;
}

void buf_add(struct buf *b, const void *p, size_t n)
{
	if (n == 0)
		return;
	buf_grow(b, n);
	memcpy(b->data + b->len, p, n);
	buf_setlen(b, b->len + n);
}

void buf_addstr(struct buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

void buf_addf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char small[256];
	va_list ap2;
	va_copy(ap2, ap);
	int n = vsnprintf(small, sizeof(small), fmt, ap2);
	va_end(ap2);
	if (n < 0)
		fatalx("bad format string");
	if ((size_t)n < sizeof(small)) {
		buf_add(b, small, (size_t)n);
	} else {
		buf_grow(b, (size_t)n);
		vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
		buf_setlen(b, b->len + (size_t)n);
	}
	va_end(ap);
}

void buf_add_be32(struct buf *b, uint32_t v)
{
	uint8_t be[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
	buf_add(b, be, sizeof(be));
}

uint8_t *buf_detach(struct buf *b, size_t *len_out)
{
	buf_grow(b, 0);
	uint8_t *p = b->data;
	if (len_out)
		*len_out = b->len;
	buf_init(b);
	return p;
}

const char *buf_str(const struct buf *b)
{
	return b->data ? (const char *)b->data : "";
}
