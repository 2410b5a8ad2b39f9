/*
 * Hex and base32 codecs; see encoding.h.
 */
#include "util/encoding.h"

#include "util/error.h"

static const char hex_digits[] = "0123456789abcdef";
static const char b32_digits[] = "abcdefghijklmnopqrstuvwxyz234567";

void hex_encode(char *out, const uint8_t *in, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hex_digits[in[i] >> 4];
		out[2 * i + 1] = hex_digits[in[i] & 15];
	}
	out[2 * n] = 0;
}

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int hex_decode(uint8_t *out, size_t out_len, const char *in, size_t in_len)
{
	if (in_len != hex_len(out_len))
		return SHOAL_EPROTO;
	for (size_t i = 0; i < out_len; i++) {
		int hi = hex_value(in[2 * i]), lo = hex_value(in[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return SHOAL_EPROTO;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

void base32_encode(char *out, const uint8_t *in, size_t n)
{
	size_t o = 0;
	uint32_t acc = 0;
	int bits = 0;
	for (size_t i = 0; i < n; i++) {
		acc = acc << 8 | in[i];
		bits += 8;
		while (bits >= 5) {
			bits -= 5;
			out[o++] = b32_digits[(acc >> bits) & 31];
		}
	}
	if (bits > 0)
		out[o++] = b32_digits[(acc << (5 - bits)) & 31];
	out[o] = 0;
}

static int b32_value(char c)
{
	if (c >= 'a' && c <= 'z')
		return c - 'a';
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= '2' && c <= '7')
		return c - '2' + 26;
	return -1;
}

int base32_decode(uint8_t *out, size_t out_len, const char *in, size_t in_len)
{
	if (in_len != base32_len(out_len))
		return SHOAL_EPROTO;
	size_t o = 0;
	uint32_t acc = 0;
	int bits = 0;
	for (size_t i = 0; i < in_len; i++) {
		int v = b32_value(in[i]);
		if (v < 0)
			return SHOAL_EPROTO;
		acc = acc << 5 | (uint32_t)v;
		bits += 5;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (uint8_t)(acc >> bits);
		}
	}
	/* Leftover bits are padding and must be zero for a canonical spelling. */
	if (acc & ((1u << bits) - 1))
		return SHOAL_EPROTO;
	return 0;
}
