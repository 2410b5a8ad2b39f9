/*
 * The recovery secret: 32 random bytes kept in the home (home/recovery.key,
 * mode 0600) and printed by `shoal recovery-key`. Everything needed to find
 * and read a node's names after the node is lost derives from it, each
 * through HKDF-SHA256 with its own label:
 *
 *   locator  = HKDF(secret, "shoal recovery locator v1")  32 bytes, public:
 *              members keep records and answer queries by it
 *   seal key = HKDF(secret, "shoal recovery seal v1")     32 bytes, never
 *              leaves the node
 *
 * The sealed capability is nonce (12 random bytes) || AES-256-GCM(text) ||
 * tag (16), with the additional data "shoal recovery record v1" 0x00 ||
 * locator || seq (8 bytes big-endian): a member that holds the record can
 * neither read the capability nor move it to another sequence number.
 *
 * The key's text form is "shoal-recovery:" followed by the base32 of the
 * secret (52 characters, either case accepted).
 */
#ifndef SHOAL_CRYPTO_RECOVERY_H
#define SHOAL_CRYPTO_RECOVERY_H

#include <stddef.h>
#include <stdint.h>

#define RECOVERY_SECRET_LEN  32
#define RECOVERY_LOCATOR_LEN 32
#define RECOVERY_PREFIX	     "shoal-recovery:"
/* The key's text, without its NUL: prefix and base32 of the secret. */
#define RECOVERY_KEY_STR_LEN (sizeof(RECOVERY_PREFIX) - 1 + 52)
#define RECOVERY_NONCE_LEN   12
#define RECOVERY_TAG_LEN     16
/* Sealed bytes for a plaintext of n bytes. */
#define RECOVERY_SEALED_LEN(n) (RECOVERY_NONCE_LEN + (n) + RECOVERY_TAG_LEN)

/* Writes the key's text for secret into out (RECOVERY_KEY_STR_LEN + 1). */
void recovery_key_format(const uint8_t secret[RECOVERY_SECRET_LEN],
			 char out[RECOVERY_KEY_STR_LEN + 1]);

/* Parses text (surrounding blanks allowed) into secret. Returns 0 or
 * SHOAL_EUSAGE (not a recovery key: wrong prefix, length or character). */
int recovery_key_parse(const char *text, uint8_t secret[RECOVERY_SECRET_LEN]);

/* The locator of secret. Returns 0 or SHOAL_ECRYPTO. */
int recovery_locator(const uint8_t secret[RECOVERY_SECRET_LEN],
		     uint8_t locator[RECOVERY_LOCATOR_LEN]);

/*
 * Seals plain[0..n) for the record (locator, seq) of secret into
 * out[0..RECOVERY_SEALED_LEN(n)) with a fresh random nonce. Returns 0 or
 * SHOAL_ECRYPTO.
 */
int recovery_seal(const uint8_t secret[RECOVERY_SECRET_LEN], uint64_t seq, const uint8_t *plain,
		  size_t n, uint8_t *out);

/*
 * Opens sealed[0..n) (n >= RECOVERY_SEALED_LEN(0)) as recovery_seal() made it
 * for seq into out[0..n - RECOVERY_SEALED_LEN(0)). Returns 0, SHOAL_EDECRYPT
 * (another secret or sequence number, or altered bytes; out is then zeroed),
 * SHOAL_EPROTO (too short) or SHOAL_ECRYPTO.
 */
int recovery_open(const uint8_t secret[RECOVERY_SECRET_LEN], uint64_t seq, const uint8_t *sealed,
		  size_t n, uint8_t *out);

#endif
