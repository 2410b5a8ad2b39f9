/*
 * Enrollment requests: signed bytes, signing, the text form and its strict
 * parser; see enroll.h. The parser checks cheapest first, so that junk costs
 * no signature verification, and says in one line what it refused.
 */
#include "proto/enroll.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "proto/shoal.pb-c.h"
#include "util/error.h"

#define BEGIN_LINE "-----BEGIN " ENROLL_PEM_NAME "-----"

static int refuse(const char **why, const char *reason, int err)
{
	ERR_clear_error();
	if (why)
		*why = reason;
	return err;
}

static int is_space(uint8_t c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* 1..ENROLL_LISTEN_MAX bytes of printable ASCII, no space: what HOST:PORT
 * needs at most, and safe to print. Its HOST:PORT form is the net layer's to
 * check. */
static int listen_ok(const char *s)
{
	size_t n = strnlen(s, ENROLL_LISTEN_MAX + 1);
	if (n == 0 || n > ENROLL_LISTEN_MAX)
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] <= ' ' || s[i] > '~')
			return 0;
	}
	return 1;
}

static uint8_t *put_be(uint8_t *p, uint64_t v, int bytes)
{
	for (int i = bytes - 1; i >= 0; i--) {
		p[i] = (uint8_t)v;
		v >>= 8;
	}
	return p + bytes;
}

size_t enroll_signed_bytes(const struct enroll_request *r, uint8_t out[ENROLL_SIGNED_MAX])
{
	size_t nick_len = strnlen(r->nickname, NICKNAME_MAX);
	size_t listen_len = strnlen(r->listen, ENROLL_LISTEN_MAX);
	uint8_t *p = out;
	memcpy(p, ENROLL_DOMAIN, sizeof(ENROLL_DOMAIN)); /* with its NUL */
	p += sizeof(ENROLL_DOMAIN);
	memcpy(p, r->public_key, IDENTITY_KEY_LEN);
	p += IDENTITY_KEY_LEN;
	p = put_be(p, (uint64_t)r->time, 8);
	*p++ = (uint8_t)nick_len;
	memcpy(p, r->nickname, nick_len);
	p += nick_len;
	p = put_be(p, listen_len, 2);
	memcpy(p, r->listen, listen_len);
	p += listen_len;
	return (size_t)(p - out);
}

/* The field rules, without the signature. */
static int fields_check(const struct enroll_request *r, const char **why)
{
	if (r->nickname[0] && nickname_check(r->nickname))
		return refuse(why,
			      "invalid nickname (1 to 32 of a-z, 0-9, '.', '_', '-', starting with "
			      "a letter or digit)",
			      SHOAL_EPROTO);
	if (!listen_ok(r->listen))
		return refuse(why, "invalid listen address", SHOAL_EPROTO);
	if (r->time <= 0)
		return refuse(why, "no time of request", SHOAL_EPROTO);
	return 0;
}

int enroll_request_check(const struct enroll_request *r, const char **why)
{
	uint8_t bytes[ENROLL_SIGNED_MAX];
	EVP_PKEY *pub = NULL;
	int err = fields_check(r, why);
	if (err)
		return err;
	/* Any 32 bytes make a key; a point off the curve fails verification. */
	if (identity_public_from_raw(r->public_key, &pub))
		return refuse(why, "unusable public key", SHOAL_EPROTO);
	err = identity_verify_key_signature(pub, bytes, enroll_signed_bytes(r, bytes), r->sig);
	EVP_PKEY_free(pub);
	if (err)
		return refuse(why,
			      "bad signature (the request was altered, or not made with its key)",
			      SHOAL_EPROTO);
	return 0;
}

int enroll_request_sign(EVP_PKEY *key, const char *nickname, const char *listen, int64_t time,
			struct enroll_request *out)
{
	struct enroll_request r;
	uint8_t bytes[ENROLL_SIGNED_MAX];
	if (!nickname)
		nickname = "";
	memset(&r, 0, sizeof(r));
	if (strnlen(nickname, NICKNAME_MAX + 1) > NICKNAME_MAX ||
	    strnlen(listen, ENROLL_LISTEN_MAX + 1) > ENROLL_LISTEN_MAX)
		return SHOAL_EPROTO;
	strcpy(r.nickname, nickname);
	strcpy(r.listen, listen);
	r.time = time;
	if (fields_check(&r, NULL))
		return SHOAL_EPROTO;
	int err = identity_public_raw(key, r.public_key);
	if (!err)
		err = identity_sign(key, bytes, enroll_signed_bytes(&r, bytes), r.sig);
	if (err)
		return err;
	*out = r;
	return 0;
}

/* Points m's fields at r's (m borrows them). */
static void to_pb(const struct enroll_request *r, Shoal__EnrollRequest *m)
{
	shoal__enroll_request__init(m);
	m->public_key.data = (uint8_t *)r->public_key;
	m->public_key.len = IDENTITY_KEY_LEN;
	m->nickname = (char *)r->nickname;
	m->listen_addr = (char *)r->listen;
	m->time = r->time;
	m->signature.data = (uint8_t *)r->sig;
	m->signature.len = IDENTITY_SIG_LEN;
}

int enroll_request_format(const struct enroll_request *r, struct buf *out)
{
	Shoal__EnrollRequest m;
	uint8_t packed[ENROLL_MESSAGE_MAX];
	int err = 0;
	char *text;
	to_pb(r, &m);
	/* The struct's bounds keep the message well under the cap. */
	size_t len = shoal__enroll_request__get_packed_size(&m);
	if (len > sizeof(packed))
		return SHOAL_ETOOBIG;
	shoal__enroll_request__pack(&m, packed);
	BIO *bio = BIO_new(BIO_s_mem());
	if (!bio || !PEM_write_bio(bio, ENROLL_PEM_NAME, "", packed, (long)len)) {
		err = SHOAL_ECRYPTO;
		ERR_clear_error();
		goto out;
	}
	long text_len = BIO_get_mem_data(bio, &text);
	buf_add(out, text, (size_t)text_len);
out:
	BIO_free(bio);
	return err;
}

/* Whether p[0..n) is all white space. */
static int blank(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (!is_space(p[i]))
			return 0;
	}
	return 1;
}

/* Unpacks the message strictly into out (see enroll_request_parse). */
static int message_parse(const uint8_t *data, size_t len, struct enroll_request *out,
			 const char **why)
{
	struct enroll_request r;
	Shoal__EnrollRequest mine;
	uint8_t again[ENROLL_MESSAGE_MAX];
	int err = 0;
	if (len > ENROLL_MESSAGE_MAX)
		return refuse(why, "the request message is too long", SHOAL_ETOOBIG);
	Shoal__EnrollRequest *m = shoal__enroll_request__unpack(NULL, len, data);
	if (!m)
		return refuse(why, "not a request message (bad protobuf)", SHOAL_EPROTO);
	if (m->base.n_unknown_fields) {
		err = refuse(why, "unknown fields in the request", SHOAL_EPROTO);
		goto out;
	}
	if (m->public_key.len != IDENTITY_KEY_LEN) {
		err = refuse(why, "the public key is not 32 bytes", SHOAL_EPROTO);
		goto out;
	}
	if (m->signature.len != IDENTITY_SIG_LEN) {
		err = refuse(why, "the signature is not 64 bytes", SHOAL_EPROTO);
		goto out;
	}
	/* strnlen bounds: a string past the cap is refused, never copied. */
	if (strnlen(m->nickname, NICKNAME_MAX + 1) > NICKNAME_MAX) {
		err = refuse(why, "the nickname is longer than 32 characters", SHOAL_EPROTO);
		goto out;
	}
	if (strnlen(m->listen_addr, ENROLL_LISTEN_MAX + 1) > ENROLL_LISTEN_MAX) {
		err = refuse(why, "the listen address is too long", SHOAL_EPROTO);
		goto out;
	}
	memset(&r, 0, sizeof(r));
	memcpy(r.public_key, m->public_key.data, IDENTITY_KEY_LEN);
	strcpy(r.nickname, m->nickname);
	strcpy(r.listen, m->listen_addr);
	r.time = m->time;
	memcpy(r.sig, m->signature.data, IDENTITY_SIG_LEN);
	/* One encoding per request: packing it again must give the same bytes,
	 * which refuses repeated fields, fields out of order, overlong varints
	 * and strings cut by a NUL. */
	to_pb(&r, &mine);
	if (shoal__enroll_request__get_packed_size(&mine) != len ||
	    shoal__enroll_request__pack(&mine, again) != len || memcmp(again, data, len)) {
		err = refuse(why, "the request message is not in its canonical encoding",
			     SHOAL_EPROTO);
		goto out;
	}
	err = enroll_request_check(&r, why);
	if (!err)
		*out = r;
out:
	shoal__enroll_request__free_unpacked(m, NULL);
	return err;
}

int enroll_request_parse(const void *text, size_t len, struct enroll_request *out, const char **why)
{
	const uint8_t *p = text;
	size_t at = 0;
	char *name = NULL, *header = NULL;
	unsigned char *data = NULL;
	long data_len = 0;
	char *rest;
	int err;
	if (len == 0)
		return refuse(why, "empty file", SHOAL_EPROTO);
	if (len > ENROLL_TEXT_MAX)
		return refuse(why, "too big for a request (2048 bytes at most)", SHOAL_ETOOBIG);
	if (memchr(p, 0, len))
		return refuse(why, "not a text file (it holds a NUL byte)", SHOAL_EPROTO);
	while (at < len && is_space(p[at]))
		at++;
	if (len - at < strlen(BEGIN_LINE) || memcmp(p + at, BEGIN_LINE, strlen(BEGIN_LINE)))
		return refuse(why, "not a shoal node request (no BEGIN SHOAL NODE REQUEST line)",
			      SHOAL_EPROTO);
	BIO *bio = BIO_new_mem_buf(p + at, (int)(len - at));
	if (!bio)
		return refuse(why, "out of memory", SHOAL_ECRYPTO);
	if (!PEM_read_bio(bio, &name, &header, &data, &data_len)) {
		err = refuse(why, "damaged request (bad base64, or no END SHOAL NODE REQUEST line)",
			     SHOAL_EPROTO);
		goto out;
	}
	if (strcmp(name, ENROLL_PEM_NAME) || header[0]) {
		err = refuse(why, "damaged request (unexpected name or headers)", SHOAL_EPROTO);
		goto out;
	}
	long rest_len = BIO_get_mem_data(bio, &rest);
	if (rest_len > 0 && !blank((const uint8_t *)rest, (size_t)rest_len)) {
		err = refuse(why, "text after the END SHOAL NODE REQUEST line", SHOAL_EPROTO);
		goto out;
	}
	err = message_parse(data, (size_t)data_len, out, why);
out:
	OPENSSL_free(name);
	OPENSSL_free(header);
	OPENSSL_free(data);
	BIO_free(bio);
	return err;
}
