/*
 * Tests for src/util/encoding.c: lowercase hex and unpadded lowercase base32.
 * The encoders are checked against the RFC 4648 test vectors (lowercased, the
 * '=' padding dropped), every length 0..64 must round-trip, and the decoders
 * must be strict as encoding.h promises: exact length only, no character
 * outside the alphabet, zero padding bits (one spelling per value), while
 * still accepting upper case. Canary bytes catch writes past the output.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "util/encoding.h"
#include "util/error.h"

#define CANARY 0xa5

static const char b32_alphabet[] = "abcdefghijklmnopqrstuvwxyz234567";

struct vector {
	const char *plain;
	const char *hex;
	const char *base32;
};

/* RFC 4648 section 10, base16 and base32, lowercased and without padding. */
static const struct vector rfc4648[] = {
	{"", "", ""},
	{"f", "66", "my"},
	{"fo", "666f", "mzxq"},
	{"foo", "666f6f", "mzxw6"},
	{"foob", "666f6f62", "mzxw6yq"},
	{"fooba", "666f6f6261", "mzxw6ytb"},
	{"foobar", "666f6f626172", "mzxw6ytboi"},
};

#define NVECTORS (sizeof(rfc4648) / sizeof(rfc4648[0]))

/* Fills p[0..n) with a pattern that depends on seed. */
static void fill(uint8_t *p, size_t n, unsigned seed)
{
	uint32_t x = 2463534242u ^ seed;
	for (size_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		p[i] = (uint8_t)x;
	}
}

static void test_lengths(void **state)
{
	(void)state;
	assert_int_equal(hex_len(0), 0);
	assert_int_equal(hex_len(1), 2);
	assert_int_equal(hex_len(32), 64);
	const size_t b32[] = {0, 2, 4, 5, 7, 8, 10, 12, 13, 15, 16};
	for (size_t n = 0; n < sizeof(b32) / sizeof(b32[0]); n++)
		assert_int_equal(base32_len(n), b32[n]);
	assert_int_equal(base32_len(32), 52);
}

static void test_hex_vectors(void **state)
{
	(void)state;
	char out[64];
	uint8_t raw[32];

	for (size_t i = 0; i < NVECTORS; i++) {
		const struct vector *v = &rfc4648[i];
		size_t n = strlen(v->plain);
		memset(out, CANARY, sizeof(out));
		hex_encode(out, (const uint8_t *)v->plain, n);
		assert_string_equal(out, v->hex);
		assert_int_equal((uint8_t)out[hex_len(n) + 1], CANARY);

		memset(raw, CANARY, sizeof(raw));
		assert_int_equal(hex_decode(raw, n, v->hex, strlen(v->hex)), 0);
		assert_memory_equal(raw, v->plain, n);
		assert_int_equal(raw[n], CANARY);
	}

	const uint8_t all[] = {0x00, 0x01, 0x7f, 0x80, 0xab, 0xcd, 0xef, 0xff};
	hex_encode(out, all, sizeof(all));
	assert_string_equal(out, "00017f80abcdefff");
}

static void test_base32_vectors(void **state)
{
	(void)state;
	char out[64];
	uint8_t raw[32];

	for (size_t i = 0; i < NVECTORS; i++) {
		const struct vector *v = &rfc4648[i];
		size_t n = strlen(v->plain);
		memset(out, CANARY, sizeof(out));
		base32_encode(out, (const uint8_t *)v->plain, n);
		assert_string_equal(out, v->base32);
		assert_int_equal(strlen(v->base32), base32_len(n));
		assert_int_equal((uint8_t)out[base32_len(n) + 1], CANARY);

		memset(raw, CANARY, sizeof(raw));
		assert_int_equal(base32_decode(raw, n, v->base32, strlen(v->base32)), 0);
		assert_memory_equal(raw, v->plain, n);
		assert_int_equal(raw[n], CANARY);
	}

	/* Every digit in order: 5 bytes of 0x00..0x1f in 5-bit groups. */
	const uint8_t seq[20] = {0x00, 0x44, 0x32, 0x14, 0xc7, 0x42, 0x54, 0xb6, 0x35, 0xcf,
				 0x84, 0x65, 0x3a, 0x56, 0xd7, 0xc6, 0x75, 0xbe, 0x77, 0xdf};
	base32_encode(out, seq, sizeof(seq));
	assert_string_equal(out, b32_alphabet);
	assert_int_equal(base32_decode(raw, sizeof(seq), b32_alphabet, 32), 0);
	assert_memory_equal(raw, seq, sizeof(seq));
}

static void test_round_trips(void **state)
{
	(void)state;
	uint8_t in[65], back[65];
	char hex[2 * 65 + 2], b32[110];

	for (size_t n = 0; n <= 64; n++) {
		for (unsigned pattern = 0; pattern < 4; pattern++) {
			if (pattern == 0)
				memset(in, 0x00, n);
			else if (pattern == 1)
				memset(in, 0xff, n);
			else
				fill(in, n, (unsigned)(n * 4 + pattern));

			memset(hex, CANARY, sizeof(hex));
			hex_encode(hex, in, n);
			assert_int_equal(strlen(hex), hex_len(n));
			assert_int_equal(strspn(hex, "0123456789abcdef"), hex_len(n));
			memset(back, CANARY, sizeof(back));
			assert_int_equal(hex_decode(back, n, hex, hex_len(n)), 0);
			assert_memory_equal(back, in, n);
			assert_int_equal(back[n], CANARY);

			memset(b32, CANARY, sizeof(b32));
			base32_encode(b32, in, n);
			assert_int_equal(strlen(b32), base32_len(n));
			assert_int_equal(strspn(b32, b32_alphabet), base32_len(n));
			memset(back, CANARY, sizeof(back));
			assert_int_equal(base32_decode(back, n, b32, base32_len(n)), 0);
			assert_memory_equal(back, in, n);
			assert_int_equal(back[n], CANARY);
		}
	}
}

static void test_wrong_length_rejected(void **state)
{
	(void)state;
	uint8_t in[40], out[41];
	char hex[100], b32[100];

	for (size_t n = 0; n <= 40; n++) {
		fill(in, n, (unsigned)n);
		hex_encode(hex, in, n);
		base32_encode(b32, in, n);
		/* Same text against a neighbouring output length, and the text one
		 * character short or long for this output length. */
		if (n > 0) {
			assert_int_equal(hex_decode(out, n - 1, hex, hex_len(n)), SHOAL_EPROTO);
			assert_int_equal(hex_decode(out, n, hex, hex_len(n) - 1), SHOAL_EPROTO);
			assert_int_equal(base32_decode(out, n - 1, b32, base32_len(n)),
					 SHOAL_EPROTO);
			assert_int_equal(base32_decode(out, n, b32, base32_len(n) - 1),
					 SHOAL_EPROTO);
		}
		assert_int_equal(hex_decode(out, n + 1, hex, hex_len(n)), SHOAL_EPROTO);
		strcat(hex, "0");
		assert_int_equal(hex_decode(out, n, hex, hex_len(n) + 1), SHOAL_EPROTO);
		assert_int_equal(base32_decode(out, n + 1, b32, base32_len(n)), SHOAL_EPROTO);
		strcat(b32, "a");
		assert_int_equal(base32_decode(out, n, b32, base32_len(n) + 1), SHOAL_EPROTO);
	}
	/* RFC 4648 padded form is not ours. */
	assert_int_equal(base32_decode(out, 1, "my======", 8), SHOAL_EPROTO);
}

static void test_hex_bad_chars(void **state)
{
	(void)state;
	const char bad[] = {'g', 'G', 'z', 'x', ' ',  '-',    '+',
			    ':', '/', '@', '`', '\0', '\x80', '\xff'};
	uint8_t out[4];
	char text[9];

	for (size_t i = 0; i < sizeof(bad); i++) {
		for (size_t pos = 0; pos < 8; pos++) {
			memcpy(text, "0123abcd", 9);
			text[pos] = bad[i];
			assert_int_equal(hex_decode(out, 4, text, 8), SHOAL_EPROTO);
		}
	}
}

static void test_base32_bad_chars(void **state)
{
	(void)state;
	const char bad[] = {'0', '1', '8', '9', '=',  ' ',  '-',    '+',    '/',   '@',
			    '[', '`', '{', ':', '\n', '\0', '\x80', '\xc3', '\xff'};
	uint8_t out[5];
	char text[9];

	for (size_t i = 0; i < sizeof(bad); i++) {
		for (size_t pos = 0; pos < 8; pos++) {
			memcpy(text, "mzxw6ytb", 9);
			text[pos] = bad[i];
			assert_int_equal(base32_decode(out, 5, text, 8), SHOAL_EPROTO);
		}
	}
}

static void test_base32_padding_bits(void **state)
{
	(void)state;
	uint8_t in[33], out[33];
	char text[60];

	/* For each length whose last digit carries unused bits, only the digits
	 * with those bits clear decode; all the others are rejected. */
	for (size_t n = 1; n <= 33; n++) {
		size_t len = base32_len(n);
		int unused = (int)(len * 5 - n * 8);
		fill(in, n, (unsigned)(100 + n));
		base32_encode(text, in, n);
		int accepted = 0;
		for (int d = 0; d < 32; d++) {
			text[len - 1] = b32_alphabet[d];
			int err = base32_decode(out, n, text, len);
			if ((d & ((1 << unused) - 1)) == 0) {
				assert_int_equal(err, 0);
				accepted++;
			} else {
				assert_int_equal(err, SHOAL_EPROTO);
			}
		}
		assert_int_equal(accepted, 32 >> unused);
	}

	/* The classic examples: "f" is "my"; "mz" has a stray bit. */
	assert_int_equal(base32_decode(out, 1, "mz", 2), SHOAL_EPROTO);
	assert_int_equal(base32_decode(out, 1, "mb", 2), SHOAL_EPROTO);
	assert_int_equal(base32_decode(out, 1, "my", 2), 0);
	assert_int_equal(out[0], 'f');
}

static void test_uppercase_accepted(void **state)
{
	(void)state;
	uint8_t out[8];

	memset(out, 0, sizeof(out));
	assert_int_equal(base32_decode(out, 6, "MZXW6YTBOI", 10), 0);
	assert_memory_equal(out, "foobar", 6);
	memset(out, 0, sizeof(out));
	assert_int_equal(base32_decode(out, 6, "mZxW6yTbOi", 10), 0);
	assert_memory_equal(out, "foobar", 6);
	/* Padding bits are checked in upper case too. */
	assert_int_equal(base32_decode(out, 1, "MZ", 2), SHOAL_EPROTO);

	memset(out, 0, sizeof(out));
	assert_int_equal(hex_decode(out, 6, "666F6F626172", 12), 0);
	assert_memory_equal(out, "foobar", 6);
	assert_int_equal(hex_decode(out, 4, "ABCDEFab", 8), 0);
	const uint8_t expected[] = {0xab, 0xcd, 0xef, 0xab};
	assert_memory_equal(out, expected, 4);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lengths),
		cmocka_unit_test(test_hex_vectors),
		cmocka_unit_test(test_base32_vectors),
		cmocka_unit_test(test_round_trips),
		cmocka_unit_test(test_wrong_length_rejected),
		cmocka_unit_test(test_hex_bad_chars),
		cmocka_unit_test(test_base32_bad_chars),
		cmocka_unit_test(test_base32_padding_bits),
		cmocka_unit_test(test_uppercase_accepted),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
