/*
 * Hashing through OpenSSL: SHA-256 (one-shot and streaming), HMAC-SHA256,
 * HKDF-SHA256, and the kernel's random bytes. Chunk ids are SHA-256 digests.
 */
#ifndef SHOAL_CRYPTO_HASH_H
#define SHOAL_CRYPTO_HASH_H

#include <stddef.h>
#include <stdint.h>

#define SHA256_LEN 32

/* Computes SHA-256 of p[0..n). Aborts only if OpenSSL itself is broken. */
void sha256(const void *p, size_t n, uint8_t out[SHA256_LEN]);

/* Streaming SHA-256. _init returns 0 or SHOAL_ECRYPTO; _final releases the state;
 * _release frees an unfinished one (safe on a finished or zeroed context). */
struct sha256_ctx {
	void *md; /* EVP_MD_CTX */
};
int sha256_init(struct sha256_ctx *c);
void sha256_update(struct sha256_ctx *c, const void *p, size_t n);
void sha256_final(struct sha256_ctx *c, uint8_t out[SHA256_LEN]);
void sha256_release(struct sha256_ctx *c);

/* HMAC-SHA256 of p[0..n) under key. */
void hmac_sha256(const uint8_t *key, size_t key_len, const void *p, size_t n,
		 uint8_t out[SHA256_LEN]);

/* HKDF-SHA256 (RFC 5869) with empty salt: fills out[0..out_len) from ikm and info.
 * Returns 0 or SHOAL_ECRYPTO. */
int hkdf_sha256(const uint8_t *ikm, size_t ikm_len, const char *info, uint8_t *out, size_t out_len);

/* Fills p with n cryptographically secure random bytes. 0 or SHOAL_ECRYPTO. */
int random_bytes(void *p, size_t n);

#endif
