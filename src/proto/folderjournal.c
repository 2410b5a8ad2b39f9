/* See folderjournal.h. */
#include "proto/folderjournal.h"

#include <string.h>

#include <openssl/crypto.h>

#include "crypto/hash.h"
#include "crypto/seal.h"
#include "util/cursor.h"
#include "util/encoding.h"
#include "util/error.h"

#define NAME_DOMAIN    "shoal folder journal name v1"
#define POINTER_DOMAIN "shoal folder pointer v1"

void folderjournal_name(const struct folder_keys *keys, char out[FOLDERJOURNAL_NAME_MAX])
{
	uint8_t mac[SHA256_LEN];
	char text[64];
	hmac_sha256(keys->journal, FOLDER_KEY_LEN, NAME_DOMAIN, sizeof(NAME_DOMAIN) - 1, mac);
	base32_encode(text, mac, 16);
	snprintf(out, FOLDERJOURNAL_NAME_MAX, "%s%.26s", FOLDERJOURNAL_NAME_PREFIX, text);
}

static void pointer_key(const struct folder_keys *keys, const uint8_t *salt,
			uint8_t key[CHUNK_KEY_LEN])
{
	uint8_t msg[sizeof(POINTER_DOMAIN) - 1 + FOLDERJOURNAL_SALT_LEN];
	memcpy(msg, POINTER_DOMAIN, sizeof(POINTER_DOMAIN) - 1);
	memcpy(msg + sizeof(POINTER_DOMAIN) - 1, salt, FOLDERJOURNAL_SALT_LEN);
	hmac_sha256(keys->journal, FOLDER_KEY_LEN, msg, sizeof(msg), key);
}

static void put_be64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--) {
		p[i] = (uint8_t)v;
		v >>= 8;
	}
}

int folderjournal_pointer_seal(const struct folder_keys *keys,
			       const struct folderjournal_pointer *p, struct buf *out)
{
	uint8_t sealed[FOLDERJOURNAL_POINTER_LEN], key[CHUNK_KEY_LEN], id[CHUNK_ID_LEN];
	uint8_t *plain = sealed + FOLDERJOURNAL_SALT_LEN;
	int err = random_bytes(sealed, FOLDERJOURNAL_SALT_LEN);
	if (err)
		return err;
	memcpy(plain, p->journal.id, CHUNK_ID_LEN);
	memcpy(plain + CHUNK_ID_LEN, p->journal.key, CHUNK_KEY_LEN);
	put_be64(plain + CHUNK_ID_LEN + CHUNK_KEY_LEN, p->size);
	put_be64(plain + CHUNK_ID_LEN + CHUNK_KEY_LEN + 8, p->index_id);
	put_be64(plain + CHUNK_ID_LEN + CHUNK_KEY_LEN + 16, p->last_seq);
	pointer_key(keys, sealed, key);
	err = seal_encrypt(key, plain, FOLDERJOURNAL_PLAIN_LEN, plain, id);
	if (!err)
		buf_add(out, sealed, sizeof(sealed));
	OPENSSL_cleanse(sealed, sizeof(sealed));
	OPENSSL_cleanse(key, sizeof(key));
	return err;
}

int folderjournal_pointer_open(const struct folder_keys *keys, const uint8_t *data, size_t len,
			       struct folderjournal_pointer *out)
{
	if (len != FOLDERJOURNAL_POINTER_LEN)
		return SHOAL_EPROTO;
	uint8_t key[CHUNK_KEY_LEN], plain[FOLDERJOURNAL_PLAIN_LEN];
	pointer_key(keys, data, key);
	int err = seal_decrypt(key, data + FOLDERJOURNAL_SALT_LEN, len - FOLDERJOURNAL_SALT_LEN,
			       plain);
	OPENSSL_cleanse(key, sizeof(key));
	if (err)
		return SHOAL_EPROTO;
	struct cursor c;
	cursor_init(&c, plain, sizeof(plain));
	memset(out, 0, sizeof(*out));
	cursor_get_bytes(&c, out->journal.id, CHUNK_ID_LEN);
	cursor_get_bytes(&c, out->journal.key, CHUNK_KEY_LEN);
	cursor_get_be64(&c, &out->size);
	cursor_get_be64(&c, &out->index_id);
	cursor_get_be64(&c, &out->last_seq);
	OPENSSL_cleanse(plain, sizeof(plain));
	return out->size > FOLDERJOURNAL_MAX ? SHOAL_EPROTO : 0;
}

void folderjournal_add(struct buf *journal, const uint8_t *batch, size_t len)
{
	buf_add_be32(journal, (uint32_t)len);
	buf_add(journal, batch, len);
}

int folderjournal_next(const uint8_t *journal, size_t len, size_t *off, const uint8_t **batch,
		       size_t *batch_len)
{
	if (*off >= len)
		return 0;
	struct cursor c;
	cursor_init(&c, journal + *off, len - *off);
	uint32_t n;
	if (cursor_get_be32(&c, &n) || n == 0 || n > FOLDER_BATCH_MAX ||
	    cursor_get_ref(&c, batch, n))
		return SHOAL_EPROTO;
	*batch_len = n;
	*off += 4 + (size_t)n;
	return 1;
}
