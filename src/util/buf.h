/*
 * The one growable byte buffer. A struct buf owns its memory; it is always
 * NUL-terminated past len so that text can be built in it, but may hold any
 * bytes. Allocation failure aborts (the process cannot make progress without
 * memory, and every caller would do the same).
 */
#ifndef SHOAL_UTIL_BUF_H
#define SHOAL_UTIL_BUF_H

#include <stddef.h>
#include <stdint.h>

struct buf {
	uint8_t *data;
	size_t len;
	size_t cap;
};

#define BUF_INIT           \
	{                  \
		NULL, 0, 0 \
	}

/* Makes b empty without allocating. */
void buf_init(struct buf *b);
/* Frees b's memory and leaves it as after buf_init(). */
void buf_release(struct buf *b);
/* Ensures room for extra more bytes (plus the terminating NUL). */
void buf_grow(struct buf *b, size_t extra);
/* Sets len to 0, keeping the memory. */
void buf_reset(struct buf *b);
/* Sets len to n (n <= cap - 1 after buf_grow); used after writing into data. */
void buf_setlen(struct buf *b, size_t n);
/* Appends n bytes. */
void buf_add(struct buf *b, const void *p, size_t n);
/* Appends a NUL-terminated string (without the NUL). */
void buf_addstr(struct buf *b, const char *s);
/* Appends printf-formatted text. */
void buf_addf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends v as 4 bytes, big-endian. */
void buf_add_be32(struct buf *b, uint32_t v);
/*
 * Hands b's memory to the caller (who frees it with free()) and leaves b as
 * after buf_init(). *len_out receives the length when not NULL. Never NULL.
 */
uint8_t *buf_detach(struct buf *b, size_t *len_out);
/* Returns b's contents as a C string (never NULL, even when empty). */
const char *buf_str(const struct buf *b);

#endif
