/*
 * Recovery secret: key text, locator and the sealing of a record's
 * capability; see recovery.h.
 */
#include "crypto/recovery.h"

#include <ctype.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <string.h>

#include "crypto/crypto.h"
#include "crypto/hash.h"
#include "util/encoding.h"
#include "util/error.h"

#define LOCATOR_INFO "shoal recovery locator v1"
#define SEAL_INFO    "shoal recovery seal v1"
#define AAD_DOMAIN   "shoal recovery record v1"
#define AAD_LEN	     (sizeof(AAD_DOMAIN) + RECOVERY_LOCATOR_LEN + 8)

void recovery_key_format(const uint8_t secret[RECOVERY_SECRET_LEN],
			 char out[RECOVERY_KEY_STR_LEN + 1])
{
	memcpy(out, RECOVERY_PREFIX, sizeof(RECOVERY_PREFIX) - 1);
	base32_encode(out + sizeof(RECOVERY_PREFIX) - 1, secret, RECOVERY_SECRET_LEN);
}

int recovery_key_parse(const char *text, uint8_t secret[RECOVERY_SECRET_LEN])
{
	size_t plen = sizeof(RECOVERY_PREFIX) - 1;
	while (*text == ' ' || *text == '\t')
		text++;
	size_t n = strlen(text);
	while (n && isspace((unsigned char)text[n - 1]))
		n--;
	if (n != RECOVERY_KEY_STR_LEN || strncasecmp(text, RECOVERY_PREFIX, plen))
		return SHOAL_EUSAGE;
	if (base32_decode(secret, RECOVERY_SECRET_LEN, text + plen, n - plen))
		return SHOAL_EUSAGE;
	return 0;
}

int recovery_locator(const uint8_t secret[RECOVERY_SECRET_LEN],
		     uint8_t locator[RECOVERY_LOCATOR_LEN])
{
	return hkdf_sha256(secret, RECOVERY_SECRET_LEN, LOCATOR_INFO, locator,
			   RECOVERY_LOCATOR_LEN);
}

/* The additional data that binds a sealed capability to its record. */
static int seal_setup(const uint8_t secret[RECOVERY_SECRET_LEN], uint64_t seq, uint8_t key[32],
		      uint8_t aad[AAD_LEN])
{
	int err = hkdf_sha256(secret, RECOVERY_SECRET_LEN, SEAL_INFO, key, 32);
	if (err)
		return err;
	memcpy(aad, AAD_DOMAIN, sizeof(AAD_DOMAIN));
	err = recovery_locator(secret, aad + sizeof(AAD_DOMAIN));
	if (err)
		return err;
	for (int i = 0; i < 8; i++)
		aad[sizeof(AAD_DOMAIN) + RECOVERY_LOCATOR_LEN + i] = (uint8_t)(seq >> (56 - 8 * i));
	return 0;
}

int recovery_seal(const uint8_t secret[RECOVERY_SECRET_LEN], uint64_t seq, const uint8_t *plain,
		  size_t n, uint8_t *out)
{
	uint8_t key[32], aad[AAD_LEN];
	EVP_CIPHER_CTX *ctx = NULL;
	int len, err = seal_setup(secret, seq, key, aad);
	if (!err)
		err = random_bytes(out, RECOVERY_NONCE_LEN);
	if (err)
		goto out;
	ctx = EVP_CIPHER_CTX_new();
	if (!ctx || EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, out) != 1 ||
	    EVP_EncryptUpdate(ctx, NULL, &len, aad, (int)sizeof(aad)) != 1 ||
	    EVP_EncryptUpdate(ctx, out + RECOVERY_NONCE_LEN, &len, plain, (int)n) != 1 ||
	    EVP_EncryptFinal_ex(ctx, out + RECOVERY_NONCE_LEN + len, &len) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, RECOVERY_TAG_LEN,
				out + RECOVERY_NONCE_LEN + n) != 1)
		err = crypto_error("recovery: seal");
out:
	EVP_CIPHER_CTX_free(ctx);
	OPENSSL_cleanse(key, sizeof(key));
	return err;
}

int recovery_open(const uint8_t secret[RECOVERY_SECRET_LEN], uint64_t seq, const uint8_t *sealed,
		  size_t n, uint8_t *out)
{
	if (n < RECOVERY_SEALED_LEN(0))
		return SHOAL_EPROTO;
	size_t plain_len = n - RECOVERY_SEALED_LEN(0);
	uint8_t key[32], aad[AAD_LEN], tag[RECOVERY_TAG_LEN];
	EVP_CIPHER_CTX *ctx = NULL;
	int len, err = seal_setup(secret, seq, key, aad);
	if (err)
		goto out;
	memcpy(tag, sealed + RECOVERY_NONCE_LEN + plain_len, RECOVERY_TAG_LEN);
	ctx = EVP_CIPHER_CTX_new();
	if (!ctx || EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, sealed) != 1 ||
	    EVP_DecryptUpdate(ctx, NULL, &len, aad, (int)sizeof(aad)) != 1 ||
	    EVP_DecryptUpdate(ctx, out, &len, sealed + RECOVERY_NONCE_LEN, (int)plain_len) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, RECOVERY_TAG_LEN, tag) != 1) {
		err = crypto_error("recovery: open");
		goto out;
	}
	if (EVP_DecryptFinal_ex(ctx, out + len, &len) != 1) {
		/* A wrong key or altered bytes, not a failure of OpenSSL's. */
		memset(out, 0, plain_len);
		err = SHOAL_EDECRYPT;
	}
out:
	EVP_CIPHER_CTX_free(ctx);
	OPENSSL_cleanse(key, sizeof(key));
	return err;
}
