/*
 * Text encodings of binary values: lowercase hex, and base32 (RFC 4648
 * alphabet, lowercase, no padding) for ids and keys that people copy around.
 * Decoders are strict: exact length, valid digits only, and for base32 the
 * unused trailing bits must be zero, so every value has one spelling.
 */
#ifndef SHOAL_UTIL_ENCODING_H
#define SHOAL_UTIL_ENCODING_H

#include <stddef.h>
#include <stdint.h>

/* Characters needed to spell n bytes (without the terminating NUL). */
static inline size_t hex_len(size_t n)
{
	return 2 * n;
}
static inline size_t base32_len(size_t n)
{
	return (n * 8 + 4) / 5;
}

/* Writes hex_len(n) characters and a NUL to out. */
void hex_encode(char *out, const uint8_t *in, size_t n);
/* Decodes exactly in_len = hex_len(out_len) characters (either case) into
 * out. Returns 0 or SHOAL_EPROTO (wrong length or a non-hex character). */
int hex_decode(uint8_t *out, size_t out_len, const char *in, size_t in_len);

/* Writes base32_len(n) characters and a NUL to out. */
void base32_encode(char *out, const uint8_t *in, size_t n);
/* Decodes exactly in_len = base32_len(out_len) characters (either case) into
 * out. Returns 0 or SHOAL_EPROTO (wrong length, bad character, or non-zero
 * padding bits). */
int base32_decode(uint8_t *out, size_t out_len, const char *in, size_t in_len);

#endif
