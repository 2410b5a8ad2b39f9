/*
 * Tests for src/crypto/hash.c and src/crypto/seal.c. The hashes are checked
 * against published vectors (FIPS 180-2 SHA-256, RFC 4231 HMAC-SHA256, and RFC
 * 5869 test case 3, the one HKDF case with an empty salt as ours has) plus the
 * properties seal.c relies on. Sealing is checked for round trips across block
 * boundaries, in-place versus out-of-place, id = SHA-256 of the stored bytes,
 * convergence (same secret and plaintext give the same key, bytes and id), and
 * rejection of tampered, truncated or wrongly keyed objects with SHOAL_EDECRYPT.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <openssl/evp.h>

#include "crypto/hash.h"
#include "crypto/seal.h"
#include "util/encoding.h"
#include "util/error.h"

/* Asserts that the n bytes at p spell hex (lowercase). */
static void assert_hex(const uint8_t *p, size_t n, const char *hex)
{
	char text[2 * 64 + 1];
	assert_true(n <= 64);
	hex_encode(text, p, n);
	assert_string_equal(text, hex);
}

/* Fills p[0..n) with bytes that depend on seed. */
static void fill(uint8_t *p, size_t n, uint32_t seed)
{
	uint32_t x = 0x9e3779b9u ^ seed;
	for (size_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		p[i] = (uint8_t)(x >> 7);
	}
}

static void make_secret(uint8_t secret[CONVERGENCE_SECRET_LEN], uint8_t seed)
{
	for (size_t i = 0; i < CONVERGENCE_SECRET_LEN; i++)
		secret[i] = (uint8_t)(seed + 17 * i);
}

static void test_sha256_vectors(void **state)
{
	(void)state;
	uint8_t d[SHA256_LEN];
	const char *two_blocks = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";

	sha256("abc", 3, d);
	assert_hex(d, SHA256_LEN,
		   "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	sha256("", 0, d);
	assert_hex(d, SHA256_LEN,
		   "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	sha256(two_blocks, strlen(two_blocks), d);
	assert_hex(d, SHA256_LEN,
		   "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

static void test_sha256_streaming(void **state)
{
	(void)state;
	struct sha256_ctx c;
	uint8_t d[SHA256_LEN], one_shot[SHA256_LEN];
	char block[1000];

	/* One million 'a' (FIPS 180-2), fed in uneven pieces. */
	memset(block, 'a', sizeof(block));
	assert_int_equal(sha256_init(&c), 0);
	size_t left = 1000000;
	for (size_t i = 0; left > 0; i++) {
		size_t n = 1 + (i * 37) % sizeof(block);
		if (n > left)
			n = left;
		sha256_update(&c, block, n);
		left -= n;
	}
	sha256_final(&c, d);
	assert_null(c.md);
	assert_hex(d, SHA256_LEN,
		   "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");

	/* Byte by byte equals one shot. */
	uint8_t data[300];
	fill(data, sizeof(data), 1);
	sha256(data, sizeof(data), one_shot);
	assert_int_equal(sha256_init(&c), 0);
	for (size_t i = 0; i < sizeof(data); i++)
		sha256_update(&c, data + i, 1);
	sha256_final(&c, d);
	assert_memory_equal(d, one_shot, SHA256_LEN);

	/* Releasing an unfinished, a finished and a zeroed context is safe. */
	assert_int_equal(sha256_init(&c), 0);
	sha256_update(&c, "x", 1);
	sha256_release(&c);
	assert_null(c.md);
	sha256_release(&c);
	struct sha256_ctx zero = {0};
	sha256_release(&zero);
}

static void test_hmac_vectors(void **state)
{
	(void)state;
	uint8_t d[SHA256_LEN], key[131];
	const char *data;

	/* RFC 4231 test case 1. */
	memset(key, 0x0b, 20);
	hmac_sha256(key, 20, "Hi There", 8, d);
	assert_hex(d, SHA256_LEN,
		   "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");

	/* RFC 4231 test case 2. */
	data = "what do ya want for nothing?";
	hmac_sha256((const uint8_t *)"Jefe", 4, data, strlen(data), d);
	assert_hex(d, SHA256_LEN,
		   "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");

	/* RFC 4231 test case 6: a key longer than the block size. */
	memset(key, 0xaa, sizeof(key));
	data = "Test Using Larger Than Block-Size Key - Hash Key First";
	hmac_sha256(key, sizeof(key), data, strlen(data), d);
	assert_hex(d, SHA256_LEN,
		   "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
}

static void test_hkdf(void **state)
{
	(void)state;
	uint8_t ikm[22], okm[42], again[42], other[42], prefix[16];

	/* RFC 5869 test case 3: SHA-256, empty salt and empty info. */
	memset(ikm, 0x0b, sizeof(ikm));
	assert_int_equal(hkdf_sha256(ikm, sizeof(ikm), "", okm, sizeof(okm)), 0);
	const uint8_t expected[42] = {
		0x8d, 0xa4, 0xe7, 0x75, 0xa5, 0x63, 0xc1, 0x8f, 0x71, 0x5f, 0x80, 0x2a, 0x06, 0x3c,
		0x5a, 0x31, 0xb8, 0xa1, 0x1f, 0x5c, 0x5e, 0xe1, 0x87, 0x9e, 0xc3, 0x45, 0x4e, 0x5f,
		0x3c, 0x73, 0x8d, 0x2d, 0x9d, 0x20, 0x13, 0x95, 0xfa, 0xa4, 0xb6, 0x1a, 0x96, 0xc8};
	assert_memory_equal(okm, expected, sizeof(expected));

	/* Deterministic, and a shorter output is a prefix of a longer one. */
	assert_int_equal(hkdf_sha256(ikm, sizeof(ikm), "", again, sizeof(again)), 0);
	assert_memory_equal(okm, again, sizeof(okm));
	assert_int_equal(hkdf_sha256(ikm, sizeof(ikm), "", prefix, sizeof(prefix)), 0);
	assert_memory_equal(prefix, okm, sizeof(prefix));

	/* Different info, different output; info is used as given. */
	assert_int_equal(hkdf_sha256(ikm, sizeof(ikm), "shoal chunk v1", other, sizeof(other)), 0);
	assert_memory_not_equal(other, okm, sizeof(okm));
	assert_int_equal(hkdf_sha256(ikm, sizeof(ikm), "shoal chunk v2", again, sizeof(again)), 0);
	assert_memory_not_equal(other, again, sizeof(other));

	/* Different ikm (one bit, or one byte shorter), different output. */
	ikm[21] ^= 0x01;
	assert_int_equal(hkdf_sha256(ikm, sizeof(ikm), "", again, sizeof(again)), 0);
	assert_memory_not_equal(again, okm, sizeof(okm));
	ikm[21] ^= 0x01;
	assert_int_equal(hkdf_sha256(ikm, sizeof(ikm) - 1, "", again, sizeof(again)), 0);
	assert_memory_not_equal(again, okm, sizeof(okm));
}

static void test_random_bytes(void **state)
{
	(void)state;
	uint8_t a[32], b[32], zero[32] = {0};

	memset(a, 0, sizeof(a));
	memset(b, 0, sizeof(b));
	assert_int_equal(random_bytes(a, sizeof(a)), 0);
	assert_int_equal(random_bytes(b, sizeof(b)), 0);
	assert_memory_not_equal(a, zero, sizeof(a));
	assert_memory_not_equal(a, b, sizeof(a));
	assert_int_equal(random_bytes(a, 0), 0);
}

/* Seals plain[0..n) with a fixed secret, checks everything that can be checked
 * about the result, and decrypts it back, both out of place and in place. */
static void check_round_trip(size_t n, uint32_t seed)
{
	uint8_t secret[CONVERGENCE_SECRET_LEN], key[CHUNK_KEY_LEN], id[CHUNK_ID_LEN];
	uint8_t id_in_place[CHUNK_ID_LEN], digest[SHA256_LEN];
	uint8_t *plain = malloc(n + 1), *stored = malloc(n + CHUNK_TAG_LEN);
	uint8_t *in_place = malloc(n + CHUNK_TAG_LEN), *back = malloc(n + 1);
	assert_non_null(plain);
	assert_non_null(stored);
	assert_non_null(in_place);
	assert_non_null(back);

	make_secret(secret, 1);
	fill(plain, n, seed);
	seal_key(secret, plain, n, key);
	assert_int_equal(seal_encrypt(key, plain, n, stored, id), 0);

	/* The id names exactly the stored bytes, tag included. */
	sha256(stored, n + CHUNK_TAG_LEN, digest);
	assert_memory_equal(id, digest, CHUNK_ID_LEN);
	/* What is stored is not the plaintext. */
	if (n >= 16)
		assert_memory_not_equal(stored, plain, n);

	/* Out-of-place decryption, with a canary after the plaintext. */
	back[n] = 0xa5;
	assert_int_equal(seal_decrypt(key, stored, n + CHUNK_TAG_LEN, back), 0);
	if (n)
		assert_memory_equal(back, plain, n);
	assert_int_equal(back[n], 0xa5);

	/* In place gives the same bytes and id, and decrypts in place. */
	memcpy(in_place, plain, n);
	assert_int_equal(seal_encrypt(key, in_place, n, in_place, id_in_place), 0);
	assert_memory_equal(in_place, stored, n + CHUNK_TAG_LEN);
	assert_memory_equal(id_in_place, id, CHUNK_ID_LEN);
	assert_int_equal(seal_decrypt(key, in_place, n + CHUNK_TAG_LEN, in_place), 0);
	if (n)
		assert_memory_equal(in_place, plain, n);

	free(plain);
	free(stored);
	free(in_place);
	free(back);
}

static void test_seal_round_trip_sizes(void **state)
{
	(void)state;
	/* Around the AES block (16) and seal.c's 128 KiB processing block. */
	const size_t sizes[] = {0,
				1,
				15,
				16,
				17,
				128 * 1024 - 1,
				128 * 1024,
				128 * 1024 + 1,
				256 * 1024 + 5,
				(1u << 20) + 3};
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		check_round_trip(sizes[i], (uint32_t)i);
}

static void test_seal_key_is_hmac(void **state)
{
	(void)state;
	uint8_t secret[CONVERGENCE_SECRET_LEN], key[CHUNK_KEY_LEN], mac[SHA256_LEN];
	uint8_t plain[1000];

	make_secret(secret, 9);
	fill(plain, sizeof(plain), 9);
	seal_key(secret, plain, sizeof(plain), key);
	hmac_sha256(secret, sizeof(secret), plain, sizeof(plain), mac);
	assert_memory_equal(key, mac, CHUNK_KEY_LEN);
}

static void test_convergence(void **state)
{
	(void)state;
	uint8_t secret[CONVERGENCE_SECRET_LEN], other_secret[CONVERGENCE_SECRET_LEN];
	uint8_t key1[CHUNK_KEY_LEN], key2[CHUNK_KEY_LEN], key3[CHUNK_KEY_LEN], key4[CHUNK_KEY_LEN];
	uint8_t id1[CHUNK_ID_LEN], id2[CHUNK_ID_LEN], id3[CHUNK_ID_LEN], id4[CHUNK_ID_LEN];
	enum { N = 5000 };
	uint8_t plain[N], edited[N], s1[N + CHUNK_TAG_LEN], s2[N + CHUNK_TAG_LEN],
		s3[N + CHUNK_TAG_LEN], s4[N + CHUNK_TAG_LEN];

	make_secret(secret, 1);
	make_secret(other_secret, 1);
	other_secret[31] ^= 0x80;
	fill(plain, N, 5);
	memcpy(edited, plain, N);
	edited[N / 2] ^= 0x01;

	/* Same secret, same plaintext: same key, same stored bytes, same id. */
	seal_key(secret, plain, N, key1);
	seal_key(secret, plain, N, key2);
	assert_memory_equal(key1, key2, CHUNK_KEY_LEN);
	assert_int_equal(seal_encrypt(key1, plain, N, s1, id1), 0);
	assert_int_equal(seal_encrypt(key2, plain, N, s2, id2), 0);
	assert_memory_equal(s1, s2, sizeof(s1));
	assert_memory_equal(id1, id2, CHUNK_ID_LEN);

	/* Another secret: another key and id for the same plaintext. */
	seal_key(other_secret, plain, N, key3);
	assert_memory_not_equal(key3, key1, CHUNK_KEY_LEN);
	assert_int_equal(seal_encrypt(key3, plain, N, s3, id3), 0);
	assert_memory_not_equal(id3, id1, CHUNK_ID_LEN);
	assert_memory_not_equal(s3, s1, N);

	/* One plaintext bit: another key and id. */
	seal_key(secret, edited, N, key4);
	assert_memory_not_equal(key4, key1, CHUNK_KEY_LEN);
	assert_int_equal(seal_encrypt(key4, edited, N, s4, id4), 0);
	assert_memory_not_equal(id4, id1, CHUNK_ID_LEN);
}

/* Pins the stored format independently of seal.c: AES-256-GCM whose key and
 * 12-byte nonce are HKDF(chunk key, info "shoal chunk v1"), 32 + 12 bytes in
 * that order, ciphertext then tag. Changing any of it breaks every existing
 * store and dedup across versions, so it must not change silently. */
static void test_stored_format(void **state)
{
	(void)state;
	uint8_t key[CHUNK_KEY_LEN], okm[44], id[CHUNK_ID_LEN];
	uint8_t plain[333], stored[sizeof(plain) + CHUNK_TAG_LEN], expected[sizeof(stored)];
	int len = 0;

	fill(key, sizeof(key), 77);
	fill(plain, sizeof(plain), 78);
	assert_int_equal(hkdf_sha256(key, sizeof(key), "shoal chunk v1", okm, sizeof(okm)), 0);
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	assert_non_null(ctx);
	assert_int_equal(EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, okm, okm + 32), 1);
	assert_int_equal(EVP_EncryptUpdate(ctx, expected, &len, plain, (int)sizeof(plain)), 1);
	assert_int_equal(len, sizeof(plain));
	assert_int_equal(EVP_EncryptFinal_ex(ctx, expected + len, &len), 1);
	assert_int_equal(EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, CHUNK_TAG_LEN,
					     expected + sizeof(plain)),
			 1);
	EVP_CIPHER_CTX_free(ctx);

	assert_int_equal(seal_encrypt(key, plain, sizeof(plain), stored, id), 0);
	assert_memory_equal(stored, expected, sizeof(stored));
}

static void test_tampering_detected(void **state)
{
	(void)state;
	uint8_t secret[CONVERGENCE_SECRET_LEN], key[CHUNK_KEY_LEN], id[CHUNK_ID_LEN];
	enum { N = 200000 }; /* spans two 128 KiB blocks */
	size_t n = N + CHUNK_TAG_LEN;
	uint8_t *plain = malloc(N), *stored = malloc(n), *copy = malloc(n), *out = malloc(N);
	assert_non_null(plain);
	assert_non_null(stored);
	assert_non_null(copy);
	assert_non_null(out);

	make_secret(secret, 3);
	fill(plain, N, 3);
	seal_key(secret, plain, N, key);
	assert_int_equal(seal_encrypt(key, plain, N, stored, id), 0);

	/* First byte, in each block, the last ciphertext byte, every tag byte. */
	size_t positions[4 + CHUNK_TAG_LEN] = {0, N / 2, 128 * 1024 + 1, N - 1};
	for (size_t i = 0; i < CHUNK_TAG_LEN; i++)
		positions[4 + i] = N + i;
	for (size_t i = 0; i < sizeof(positions) / sizeof(positions[0]); i++) {
		for (uint8_t bit = 1; bit; bit <<= 4) {
			memcpy(copy, stored, n);
			copy[positions[i]] ^= bit;
			if (seal_decrypt(key, copy, n, out) != SHOAL_EDECRYPT)
				fail_msg("flip of 0x%02x at %zu not detected", bit, positions[i]);
		}
	}

	/* Truncated by one byte, or with a byte appended. */
	assert_int_equal(seal_decrypt(key, stored, n - 1, out), SHOAL_EDECRYPT);
	uint8_t *longer = malloc(n + 1);
	assert_non_null(longer);
	memcpy(longer, stored, n);
	longer[n] = 0;
	assert_int_equal(seal_decrypt(key, longer, n + 1, out), SHOAL_EDECRYPT);

	/* Untouched, it still decrypts (the failures above were not spurious). */
	assert_int_equal(seal_decrypt(key, stored, n, out), 0);
	assert_memory_equal(out, plain, N);

	free(longer);
	free(plain);
	free(stored);
	free(copy);
	free(out);
}

static void test_empty_plaintext_tag_checked(void **state)
{
	(void)state;
	uint8_t secret[CONVERGENCE_SECRET_LEN], key[CHUNK_KEY_LEN], id[CHUNK_ID_LEN];
	uint8_t stored[CHUNK_TAG_LEN], copy[CHUNK_TAG_LEN], out[1];

	make_secret(secret, 4);
	seal_key(secret, NULL, 0, key);
	assert_int_equal(seal_encrypt(key, NULL, 0, stored, id), 0);
	assert_int_equal(seal_decrypt(key, stored, sizeof(stored), out), 0);
	for (size_t i = 0; i < CHUNK_TAG_LEN; i++) {
		memcpy(copy, stored, sizeof(copy));
		copy[i] ^= 0x40;
		assert_int_equal(seal_decrypt(key, copy, sizeof(copy), out), SHOAL_EDECRYPT);
	}
}

static void test_wrong_key_fails(void **state)
{
	(void)state;
	uint8_t secret[CONVERGENCE_SECRET_LEN], key[CHUNK_KEY_LEN], wrong[CHUNK_KEY_LEN];
	uint8_t id[CHUNK_ID_LEN], plain[100], stored[100 + CHUNK_TAG_LEN], out[100];

	make_secret(secret, 5);
	fill(plain, sizeof(plain), 5);
	seal_key(secret, plain, sizeof(plain), key);
	assert_int_equal(seal_encrypt(key, plain, sizeof(plain), stored, id), 0);
	for (size_t i = 0; i < CHUNK_KEY_LEN; i += 7) {
		memcpy(wrong, key, sizeof(wrong));
		wrong[i] ^= 0x01;
		assert_int_equal(seal_decrypt(wrong, stored, sizeof(stored), out), SHOAL_EDECRYPT);
	}
	/* A key for other content under the same secret does not open it either. */
	plain[0] ^= 1;
	seal_key(secret, plain, sizeof(plain), wrong);
	assert_int_equal(seal_decrypt(wrong, stored, sizeof(stored), out), SHOAL_EDECRYPT);
}

static void test_too_short_fails(void **state)
{
	(void)state;
	uint8_t key[CHUNK_KEY_LEN], stored[CHUNK_TAG_LEN], out[CHUNK_TAG_LEN];

	memset(key, 1, sizeof(key));
	memset(stored, 0, sizeof(stored));
	for (size_t n = 0; n < CHUNK_TAG_LEN; n++)
		assert_int_equal(seal_decrypt(key, stored, n, out), SHOAL_EDECRYPT);
	/* Sixteen zero bytes are a well-formed but wrong tag. */
	assert_int_equal(seal_decrypt(key, stored, CHUNK_TAG_LEN, out), SHOAL_EDECRYPT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sha256_vectors),
		cmocka_unit_test(test_sha256_streaming),
		cmocka_unit_test(test_hmac_vectors),
		cmocka_unit_test(test_hkdf),
		cmocka_unit_test(test_random_bytes),
		cmocka_unit_test(test_seal_round_trip_sizes),
		cmocka_unit_test(test_seal_key_is_hmac),
		cmocka_unit_test(test_convergence),
		cmocka_unit_test(test_stored_format),
		cmocka_unit_test(test_tampering_detected),
		cmocka_unit_test(test_empty_plaintext_tag_checked),
		cmocka_unit_test(test_wrong_key_fails),
		cmocka_unit_test(test_too_short_fails),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
