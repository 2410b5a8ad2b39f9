/*
 * Convergent chunk encryption. A chunk's key is HMAC-SHA256(convergence secret,
 * plaintext), so the same content under the same secret always encrypts to the
 * same bytes and deduplicates; HKDF expands that key into an AES-256-GCM key and
 * nonce. Each key encrypts exactly one plaintext, so the derived nonce never
 * repeats under a key. What is stored is ciphertext || 16-byte tag, and the
 * chunk's id is the SHA-256 of those stored bytes: anyone can verify a chunk,
 * only a key holder can read it.
 */
#ifndef SHOAL_CRYPTO_SEAL_H
#define SHOAL_CRYPTO_SEAL_H

#include <stddef.h>
#include <stdint.h>

#include "crypto/hash.h"

#define CHUNK_KEY_LEN	       32
#define CHUNK_TAG_LEN	       16
#define CHUNK_ID_LEN	       SHA256_LEN
#define CONVERGENCE_SECRET_LEN 32

/* key = HMAC-SHA256(secret, plain[0..n)). */
void seal_key(const uint8_t secret[CONVERGENCE_SECRET_LEN], const uint8_t *plain, size_t n,
	      uint8_t key[CHUNK_KEY_LEN]);

/*
 * Encrypts plain[0..n) under key into out[0..n + CHUNK_TAG_LEN) and sets id to
 * the SHA-256 of those bytes. out may equal plain (in place); it must have room
 * for the tag. Returns 0 or SHOAL_ECRYPTO.
 */
int seal_encrypt(const uint8_t key[CHUNK_KEY_LEN], const uint8_t *plain, size_t n, uint8_t *out,
		 uint8_t id[CHUNK_ID_LEN]);

/*
 * Decrypts stored[0..n) (ciphertext || tag, n >= CHUNK_TAG_LEN) into
 * out[0..n - CHUNK_TAG_LEN); out may equal stored. The caller checks the id
 * first. Returns 0, SHOAL_EDECRYPT when the tag does not verify (wrong key or
 * tampered bytes; out's contents are then unspecified), or SHOAL_ECRYPTO.
 */
int seal_decrypt(const uint8_t key[CHUNK_KEY_LEN], const uint8_t *stored, size_t n, uint8_t *out);

#endif
