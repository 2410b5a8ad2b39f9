/*
 * Convergent AES-256-GCM chunk encryption; see seal.h. Encryption and the
 * SHA-256 of the ciphertext run block by block so the hash reads each block
 * while it is still in cache.
 */
#include "crypto/seal.h"

#include <openssl/evp.h>
#include <string.h>

#include "util/error.h"

#define SEAL_BLOCK    (128 * 1024)
#define AES_KEY_LEN   32
#define GCM_NONCE_LEN 12

static int derive(const uint8_t key[CHUNK_KEY_LEN], uint8_t aes_key[AES_KEY_LEN],
		  uint8_t nonce[GCM_NONCE_LEN])
{
	uint8_t okm[AES_KEY_LEN + GCM_NONCE_LEN];
	int err = hkdf_sha256(key, CHUNK_KEY_LEN, "shoal chunk v1", okm, sizeof(okm));
	if (!err) {
		memcpy(aes_key, okm, AES_KEY_LEN);
		memcpy(nonce, okm + AES_KEY_LEN, GCM_NONCE_LEN);
	}
	OPENSSL_cleanse(okm, sizeof(okm));
	return err;
}

void seal_key(const uint8_t secret[CONVERGENCE_SECRET_LEN], const uint8_t *plain, size_t n,
	      uint8_t key[CHUNK_KEY_LEN])
{
	hmac_sha256(secret, CONVERGENCE_SECRET_LEN, plain, n, key);
}

static EVP_CIPHER_CTX *cipher_begin(const uint8_t key[CHUNK_KEY_LEN], int enc)
{
	uint8_t aes_key[AES_KEY_LEN], nonce[GCM_NONCE_LEN];
	EVP_CIPHER_CTX *ctx = NULL;
	if (derive(key, aes_key, nonce))
		goto out;
	ctx = EVP_CIPHER_CTX_new();
	if (!ctx)
		goto out;
	if (EVP_CipherInit_ex(ctx, EVP_aes_256_gcm(), NULL, aes_key, nonce, enc) != 1) {
		EVP_CIPHER_CTX_free(ctx);
		ctx = NULL;
	}
out:
	OPENSSL_cleanse(aes_key, sizeof(aes_key));
	return ctx;
}

int seal_encrypt(const uint8_t key[CHUNK_KEY_LEN], const uint8_t *plain, size_t n, uint8_t *out,
		 uint8_t id[CHUNK_ID_LEN])
{
	int err = SHOAL_ECRYPTO;
	struct sha256_ctx h = {0};
	EVP_CIPHER_CTX *ctx = cipher_begin(key, 1);
	if (!ctx || sha256_init(&h))
		goto out;
	for (size_t off = 0; off < n; off += SEAL_BLOCK) {
		size_t len = n - off < SEAL_BLOCK ? n - off : SEAL_BLOCK;
		int outl = 0;
		if (EVP_EncryptUpdate(ctx, out + off, &outl, plain + off, (int)len) != 1 ||
		    (size_t)outl != len)
			goto out;
		sha256_update(&h, out + off, len);
	}
	int outl = 0;
	if (EVP_EncryptFinal_ex(ctx, out + n, &outl) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, CHUNK_TAG_LEN, out + n) != 1)
		goto out;
	sha256_update(&h, out + n, CHUNK_TAG_LEN);
	sha256_final(&h, id);
	err = 0;
out:
	sha256_release(&h);
	EVP_CIPHER_CTX_free(ctx);
	return err;
}

int seal_decrypt(const uint8_t key[CHUNK_KEY_LEN], const uint8_t *stored, size_t n, uint8_t *out)
{
	if (n < CHUNK_TAG_LEN)
		return SHOAL_EDECRYPT;
	size_t len = n - CHUNK_TAG_LEN;
	uint8_t tag[CHUNK_TAG_LEN];
	/* Copy the tag first: decrypting in place may not overwrite it, but the
	 * caller's buffer is theirs to reuse once we return. */
	memcpy(tag, stored + len, CHUNK_TAG_LEN);
	int err = SHOAL_ECRYPTO;
	EVP_CIPHER_CTX *ctx = cipher_begin(key, 0);
	if (!ctx)
		goto out;
	for (size_t off = 0; off < len; off += SEAL_BLOCK) {
		size_t blk = len - off < SEAL_BLOCK ? len - off : SEAL_BLOCK;
		int outl = 0;
		if (EVP_DecryptUpdate(ctx, out + off, &outl, stored + off, (int)blk) != 1 ||
		    (size_t)outl != blk)
			goto out;
	}
	if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, CHUNK_TAG_LEN, tag) != 1)
		goto out;
	int outl = 0;
	err = EVP_DecryptFinal_ex(ctx, out + len, &outl) == 1 ? 0 : SHOAL_EDECRYPT;
out:
	EVP_CIPHER_CTX_free(ctx);
	return err;
}
