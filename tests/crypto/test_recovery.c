/*
 * Tests for src/crypto/recovery.c: the recovery key's text goes round trip
 * (either case, blanks around it) and anything else is refused; the locator
 * is fixed by the secret and differs between secrets; a sealed capability
 * opens with its secret and sequence number only, and any altered byte
 * (nonce, text, tag) makes it fail.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "crypto/hash.h"
#include "crypto/recovery.h"
#include "util/error.h"
#include "util/log.h"

static void secret_fill(uint8_t s[RECOVERY_SECRET_LEN], uint8_t seed)
{
	for (size_t i = 0; i < RECOVERY_SECRET_LEN; i++)
		s[i] = (uint8_t)(seed + 7 * i);
}

static void test_key_text_round_trip(void **state)
{
	(void)state;
	uint8_t s[RECOVERY_SECRET_LEN], back[RECOVERY_SECRET_LEN];
	char text[RECOVERY_KEY_STR_LEN + 1], padded[RECOVERY_KEY_STR_LEN + 8];
	secret_fill(s, 3);
	recovery_key_format(s, text);
	assert_int_equal(strlen(text), RECOVERY_KEY_STR_LEN);
	assert_memory_equal(text, RECOVERY_PREFIX, strlen(RECOVERY_PREFIX));
	assert_int_equal(recovery_key_parse(text, back), 0);
	assert_memory_equal(back, s, sizeof(s));
	/* Upper case, and blanks a paste may bring. */
	snprintf(padded, sizeof(padded), "  %s\n", text);
	for (char *p = padded; *p; p++)
		if (*p >= 'a' && *p <= 'z')
			*p = (char)(*p - 'a' + 'A');
	memset(back, 0, sizeof(back));
	assert_int_equal(recovery_key_parse(padded, back), 0);
	assert_memory_equal(back, s, sizeof(s));
}

static void test_key_text_refused(void **state)
{
	(void)state;
	uint8_t s[RECOVERY_SECRET_LEN];
	char text[RECOVERY_KEY_STR_LEN + 1], bad[RECOVERY_KEY_STR_LEN + 8];
	secret_fill(s, 9);
	recovery_key_format(s, text);
	assert_int_equal(recovery_key_parse("", s), SHOAL_EUSAGE);
	assert_int_equal(recovery_key_parse("shoal-recovery:", s), SHOAL_EUSAGE);
	/* another prefix */
	snprintf(bad, sizeof(bad), "shoal-recoverx:%s", text + strlen(RECOVERY_PREFIX));
	assert_int_equal(recovery_key_parse(bad, s), SHOAL_EUSAGE);
	/* one character short, one too many */
	snprintf(bad, sizeof(bad), "%.*s", (int)RECOVERY_KEY_STR_LEN - 1, text);
	assert_int_equal(recovery_key_parse(bad, s), SHOAL_EUSAGE);
	snprintf(bad, sizeof(bad), "%sa", text);
	assert_int_equal(recovery_key_parse(bad, s), SHOAL_EUSAGE);
	/* a character outside base32 */
	snprintf(bad, sizeof(bad), "%s", text);
	bad[RECOVERY_KEY_STR_LEN - 3] = '1';
	assert_int_equal(recovery_key_parse(bad, s), SHOAL_EUSAGE);
	/* a capability is not a key */
	assert_int_equal(recovery_key_parse("shoal:aaaa:bbbb", s), SHOAL_EUSAGE);
}

static void test_locator(void **state)
{
	(void)state;
	uint8_t s1[RECOVERY_SECRET_LEN], s2[RECOVERY_SECRET_LEN];
	uint8_t l1[RECOVERY_LOCATOR_LEN], l1b[RECOVERY_LOCATOR_LEN], l2[RECOVERY_LOCATOR_LEN];
	secret_fill(s1, 1);
	secret_fill(s2, 2);
	assert_int_equal(recovery_locator(s1, l1), 0);
	assert_int_equal(recovery_locator(s1, l1b), 0);
	assert_int_equal(recovery_locator(s2, l2), 0);
	assert_memory_equal(l1, l1b, sizeof(l1));
	assert_memory_not_equal(l1, l2, sizeof(l1));
	/* The locator is not the secret (nor a prefix of it). */
	assert_memory_not_equal(l1, s1, sizeof(l1));
}

static void test_seal_open(void **state)
{
	(void)state;
	static const char cap[] = "shoal:abcdefgh:ijklmnop";
	size_t n = sizeof(cap) - 1;
	uint8_t s[RECOVERY_SECRET_LEN], other[RECOVERY_SECRET_LEN];
	uint8_t sealed[RECOVERY_SEALED_LEN(sizeof(cap))], sealed2[sizeof(sealed)];
	uint8_t out[sizeof(cap)];
	secret_fill(s, 5);
	secret_fill(other, 6);
	assert_int_equal(recovery_seal(s, 42, (const uint8_t *)cap, n, sealed), 0);
	/* Holders learn nothing: the text is not in the sealed bytes. */
	assert_null(memmem(sealed, RECOVERY_SEALED_LEN(n), "shoal:", 6));
	assert_int_equal(recovery_open(s, 42, sealed, RECOVERY_SEALED_LEN(n), out), 0);
	assert_memory_equal(out, cap, n);
	/* A fresh nonce each time. */
	assert_int_equal(recovery_seal(s, 42, (const uint8_t *)cap, n, sealed2), 0);
	assert_memory_not_equal(sealed, sealed2, RECOVERY_SEALED_LEN(n));
	/* Another secret, another sequence number. */
	assert_int_equal(recovery_open(other, 42, sealed, RECOVERY_SEALED_LEN(n), out),
			 SHOAL_EDECRYPT);
	assert_int_equal(recovery_open(s, 43, sealed, RECOVERY_SEALED_LEN(n), out), SHOAL_EDECRYPT);
	/* Every byte altered, one at a time. */
	for (size_t i = 0; i < RECOVERY_SEALED_LEN(n); i++) {
		memcpy(sealed2, sealed, sizeof(sealed2));
		sealed2[i] ^= 0x20;
		assert_int_equal(recovery_open(s, 42, sealed2, RECOVERY_SEALED_LEN(n), out),
				 SHOAL_EDECRYPT);
	}
	/* Too short to hold a nonce and a tag. */
	assert_int_equal(recovery_open(s, 42, sealed, RECOVERY_SEALED_LEN(0) - 1, out),
			 SHOAL_EPROTO);
}

int main(void)
{
	log_init(LOG_LEVEL_ERROR, 0);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_key_text_round_trip),
		cmocka_unit_test(test_key_text_refused),
		cmocka_unit_test(test_locator),
		cmocka_unit_test(test_seal_open),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
