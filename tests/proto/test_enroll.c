/*
 * Tests for src/proto/enroll.c: enrollment requests. A signed request
 * survives its text form field for field; the signed bytes follow the layout
 * of enroll.h; any field changed after signing (signature, key, nickname,
 * listen address, time) is refused as a bad signature, and so is any one
 * character changed in the text unless it decodes to the same request; sizes
 * past the caps, garbage, a certificate, damaged armor, text around it,
 * unknown, repeated and mis-sized fields, and fields that break the rules but
 * carry a good signature are refused, each with a one-line reason.
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
#include <openssl/pem.h>

#include "crypto/identity.h"
#include "proto/enroll.h"
#include "proto/shoal.pb-c.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/log.h"

#define T0 ((int64_t)1764930000)

struct fixture {
	EVP_PKEY *key;
	struct enroll_request req; /* signed by key: "laptop", "127.0.0.1:7400", T0 */
	struct buf text;	   /* req's text form */
};

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	if (!fx || identity_key_new(&fx->key) ||
	    enroll_request_sign(fx->key, "laptop", "127.0.0.1:7400", T0, &fx->req))
		return -1;
	buf_init(&fx->text);
	if (enroll_request_format(&fx->req, &fx->text))
		return -1;
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;
	EVP_PKEY_free(fx->key);
	buf_release(&fx->text);
	free(fx);
	return 0;
}

static void assert_same_request(const struct enroll_request *a, const struct enroll_request *b)
{
	assert_memory_equal(a->public_key, b->public_key, IDENTITY_KEY_LEN);
	assert_string_equal(a->nickname, b->nickname);
	assert_string_equal(a->listen, b->listen);
	assert_int_equal(a->time, b->time);
	assert_memory_equal(a->sig, b->sig, IDENTITY_SIG_LEN);
}

/* Parses text, expecting a refusal with err and a reason containing want. */
static void assert_refused(const void *text, size_t len, int err, const char *want)
{
	struct enroll_request out;
	const char *why = NULL;
	memset(&out, 0xa5, sizeof(out));
	int got = enroll_request_parse(text, len, &out, &why);
	if (got != err || !why || !strstr(why, want))
		fail_msg("wanted %d '%s', got %d '%s'", err, want, got, why ? why : "(none)");
	assert_null(strchr(why, '\n'));
	for (size_t i = 0; i < sizeof(out); i++)
		assert_int_equal(((const uint8_t *)&out)[i], 0xa5);
}

/* The text form of a hand-made message. */
static void armor(const uint8_t *msg, size_t len, const char *name, struct buf *out)
{
	char *text;
	BIO *bio = BIO_new(BIO_s_mem());
	assert_non_null(bio);
	assert_true(PEM_write_bio(bio, name, "", msg, (long)len) > 0);
	long n = BIO_get_mem_data(bio, &text);
	buf_reset(out);
	buf_add(out, text, (size_t)n);
	BIO_free(bio);
}

/* Packs r's fields as a message, then appends extra[0..extra_len). */
static void pack_with(const struct enroll_request *r, size_t key_len, size_t sig_len,
		      const void *extra, size_t extra_len, struct buf *out)
{
	Shoal__EnrollRequest m = SHOAL__ENROLL_REQUEST__INIT;
	uint8_t packed[1024];
	m.public_key.data = (uint8_t *)r->public_key;
	m.public_key.len = key_len;
	m.nickname = (char *)r->nickname;
	m.listen_addr = (char *)r->listen;
	m.time = r->time;
	m.signature.data = (uint8_t *)r->sig;
	m.signature.len = sig_len;
	size_t n = shoal__enroll_request__pack(&m, packed);
	assert_true(n + extra_len <= sizeof(packed));
	if (extra_len)
		memcpy(packed + n, extra, extra_len);
	armor(packed, n + extra_len, ENROLL_PEM_NAME, out);
}

static void test_round_trip(void **state)
{
	struct fixture *fx = *state;
	struct enroll_request out;
	uint8_t id[NODE_ID_LEN], want[NODE_ID_LEN];
	const char *text = buf_str(&fx->text);

	assert_int_equal(strncmp(text, "-----BEGIN SHOAL NODE REQUEST-----\n", 35), 0);
	assert_non_null(strstr(text, "\n-----END SHOAL NODE REQUEST-----\n"));
	assert_int_equal(text[fx->text.len - 1], '\n');
	assert_int_equal(enroll_request_parse(fx->text.data, fx->text.len, &out, NULL), 0);
	assert_same_request(&out, &fx->req);
	assert_string_equal(out.nickname, "laptop");
	assert_string_equal(out.listen, "127.0.0.1:7400");
	assert_int_equal(out.time, T0);
	/* The request names the key that signed it. */
	assert_int_equal(node_id_from_raw(out.public_key, id), 0);
	assert_int_equal(node_id_from_pkey(fx->key, want), 0);
	assert_memory_equal(id, want, NODE_ID_LEN);
	/* White space around the block is fine (CRLF line ends too). */
	struct buf spaced = BUF_INIT;
	buf_addstr(&spaced, "\n  \r\n");
	buf_add(&spaced, fx->text.data, fx->text.len);
	buf_addstr(&spaced, "\r\n\n\t \n");
	assert_int_equal(enroll_request_parse(spaced.data, spaced.len, &out, NULL), 0);
	assert_same_request(&out, &fx->req);
	buf_release(&spaced);
}

static void test_round_trip_without_nickname(void **state)
{
	struct fixture *fx = *state;
	struct enroll_request req, out;
	struct buf text = BUF_INIT;
	assert_int_equal(enroll_request_sign(fx->key, NULL, "[::1]:7400", 1, &req), 0);
	assert_string_equal(req.nickname, "");
	assert_int_equal(enroll_request_format(&req, &text), 0);
	assert_int_equal(enroll_request_parse(text.data, text.len, &out, NULL), 0);
	assert_same_request(&out, &req);
	buf_release(&text);
}

static void test_signed_bytes_layout(void **state)
{
	struct fixture *fx = *state;
	uint8_t bytes[ENROLL_SIGNED_MAX], want[ENROLL_SIGNED_MAX];
	size_t n = 0;
	memcpy(want, "shoal enroll request v1", 24); /* with its NUL */
	n = 24;
	memcpy(want + n, fx->req.public_key, IDENTITY_KEY_LEN);
	n += IDENTITY_KEY_LEN;
	for (int i = 7; i >= 0; i--)
		want[n++] = (uint8_t)((uint64_t)T0 >> (8 * i));
	want[n++] = 6;
	memcpy(want + n, "laptop", 6);
	n += 6;
	want[n++] = 0;
	want[n++] = 14;
	memcpy(want + n, "127.0.0.1:7400", 14);
	n += 14;
	assert_int_equal(enroll_signed_bytes(&fx->req, bytes), n);
	assert_memory_equal(bytes, want, n);
	assert_int_equal(enroll_request_check(&fx->req, NULL), 0);
}

/* Changes one field of fx's request after signing; the text of the result must
 * be refused as a bad signature. */
static void assert_tamper_refused(const struct fixture *fx,
				  void (*change)(struct enroll_request *r))
{
	struct enroll_request r = fx->req;
	struct buf text = BUF_INIT;
	const char *why = NULL;
	change(&r);
	assert_int_equal(enroll_request_check(&r, &why), SHOAL_EPROTO);
	assert_int_equal(enroll_request_format(&r, &text), 0);
	assert_refused(text.data, text.len, SHOAL_EPROTO, "bad signature");
	buf_release(&text);
}

static void flip_sig(struct enroll_request *r)
{
	r->sig[10] ^= 0x01;
}
static void flip_key(struct enroll_request *r)
{
	r->public_key[0] ^= 0x40;
}
static void change_nickname(struct enroll_request *r)
{
	r->nickname[5] = 'q'; /* "laptoq" */
}
static void drop_nickname(struct enroll_request *r)
{
	r->nickname[0] = 0;
}
static void change_listen(struct enroll_request *r)
{
	r->listen[10] = '9';
}
static void change_time(struct enroll_request *r)
{
	r->time++;
}

static void test_tampered_fields_refused(void **state)
{
	struct fixture *fx = *state;
	assert_tamper_refused(fx, flip_sig);
	assert_tamper_refused(fx, flip_key);
	assert_tamper_refused(fx, change_nickname);
	assert_tamper_refused(fx, drop_nickname);
	assert_tamper_refused(fx, change_listen);
	assert_tamper_refused(fx, change_time);
}

static void test_tampered_text_refused(void **state)
{
	struct fixture *fx = *state;
	struct buf copy = BUF_INIT;
	struct enroll_request out;
	size_t refused = 0;
	/* Every character, replaced by another base64 digit: either refused, or
	 * (a padding bit that decodes to the same bytes) the same request. */
	for (size_t i = 0; i < fx->text.len; i++) {
		buf_reset(&copy);
		buf_add(&copy, fx->text.data, fx->text.len);
		copy.data[i] = copy.data[i] == 'A' ? 'B' : 'A';
		if (enroll_request_parse(copy.data, copy.len, &out, NULL) == 0)
			assert_same_request(&out, &fx->req);
		else
			refused++;
	}
	assert_true(refused >= fx->text.len - 4);
	buf_release(&copy);
}

static void test_oversize_refused(void **state)
{
	struct fixture *fx = *state;
	struct buf big = BUF_INIT;
	uint8_t blob[ENROLL_MESSAGE_MAX + 1];

	/* The text past its cap, though only white space makes it so. */
	buf_add(&big, fx->text.data, fx->text.len);
	while (big.len <= ENROLL_TEXT_MAX)
		buf_addstr(&big, "\n");
	assert_refused(big.data, big.len, SHOAL_ETOOBIG, "too big");
	/* A message past its cap, in a text within its own. */
	memset(blob, 0x41, sizeof(blob));
	armor(blob, sizeof(blob), ENROLL_PEM_NAME, &big);
	assert_true(big.len <= ENROLL_TEXT_MAX);
	assert_refused(big.data, big.len, SHOAL_ETOOBIG, "too long");
	buf_release(&big);
}

static void test_garbage_refused(void **state)
{
	struct fixture *fx = *state;
	struct buf b = BUF_INIT;
	uint8_t junk[300];
	const char *text = buf_str(&fx->text);

	assert_refused("", 0, SHOAL_EPROTO, "empty");
	assert_refused("hello\n", 6, SHOAL_EPROTO, "not a shoal node request");
	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (uint8_t)(i * 37 + 11);
	assert_refused(junk, sizeof(junk), SHOAL_EPROTO, "NUL");
	/* A NUL inside the block. */
	buf_add(&b, fx->text.data, fx->text.len);
	b.data[50] = 0;
	assert_refused(b.data, b.len, SHOAL_EPROTO, "NUL");
	/* Another kind of PEM block: a certificate is no request. */
	armor(junk, 100, "CERTIFICATE", &b);
	assert_refused(b.data, b.len, SHOAL_EPROTO, "not a shoal node request");
	/* Text before the block. */
	buf_reset(&b);
	buf_addf(&b, "Here is my request:\n%s", text);
	assert_refused(b.data, b.len, SHOAL_EPROTO, "not a shoal node request");
	/* Text after it, and a second block. */
	buf_reset(&b);
	buf_addf(&b, "%sthanks\n", text);
	assert_refused(b.data, b.len, SHOAL_EPROTO, "after the END");
	buf_reset(&b);
	buf_addf(&b, "%s%s", text, text);
	assert_refused(b.data, b.len, SHOAL_EPROTO, "after the END");
	/* No END line; an END line of another name. */
	buf_reset(&b);
	buf_add(&b, fx->text.data, (size_t)(strstr(text, "-----END") - text));
	assert_refused(b.data, b.len, SHOAL_EPROTO, "damaged");
	buf_addstr(&b, "-----END CERTIFICATE-----\n");
	assert_refused(b.data, b.len, SHOAL_EPROTO, "damaged");
	/* PEM headers. */
	buf_reset(&b);
	buf_addf(&b, "-----BEGIN SHOAL NODE REQUEST-----\nProc-Type: 4,ENCRYPTED\n%s",
		 text + strlen("-----BEGIN SHOAL NODE REQUEST-----\n"));
	assert_refused(b.data, b.len, SHOAL_EPROTO, "damaged");
	/* Valid base64 of something that is no EnrollRequest. */
	armor(junk, sizeof(junk), ENROLL_PEM_NAME, &b);
	assert_refused(b.data, b.len, SHOAL_EPROTO, "bad protobuf");
	/* An empty block. */
	buf_reset(&b);
	buf_addstr(&b, "-----BEGIN SHOAL NODE REQUEST-----\n-----END SHOAL NODE REQUEST-----\n");
	assert_refused(b.data, b.len, SHOAL_EPROTO, "damaged");
	/* A message with every field missing but one. */
	armor((const uint8_t *)"\x20\x01", 2, ENROLL_PEM_NAME, &b);
	assert_refused(b.data, b.len, SHOAL_EPROTO, "32 bytes");
	buf_release(&b);
}

static void test_message_shape_refused(void **state)
{
	struct fixture *fx = *state;
	struct buf b = BUF_INIT;
	const uint8_t unknown[] = {0x30, 0x01};	      /* field 6, varint 1 */
	const uint8_t repeated[] = {0x12, 0x01, 'x'}; /* nickname again */
	const uint8_t overlong_time[] = {0x20, 0x81, 0x00};

	pack_with(&fx->req, IDENTITY_KEY_LEN, IDENTITY_SIG_LEN, NULL, 0, &b);
	assert_int_equal(enroll_request_parse(b.data, b.len, &(struct enroll_request){0}, NULL), 0);
	pack_with(&fx->req, IDENTITY_KEY_LEN, IDENTITY_SIG_LEN, unknown, sizeof(unknown), &b);
	assert_refused(b.data, b.len, SHOAL_EPROTO, "unknown fields");
	pack_with(&fx->req, IDENTITY_KEY_LEN, IDENTITY_SIG_LEN, repeated, sizeof(repeated), &b);
	assert_refused(b.data, b.len, SHOAL_EPROTO, "canonical");
	pack_with(&fx->req, IDENTITY_KEY_LEN, IDENTITY_SIG_LEN, overlong_time,
		  sizeof(overlong_time), &b);
	assert_refused(b.data, b.len, SHOAL_EPROTO, "canonical");
	pack_with(&fx->req, IDENTITY_KEY_LEN - 1, IDENTITY_SIG_LEN, NULL, 0, &b);
	assert_refused(b.data, b.len, SHOAL_EPROTO, "public key is not 32 bytes");
	pack_with(&fx->req, IDENTITY_KEY_LEN, IDENTITY_SIG_LEN - 1, NULL, 0, &b);
	assert_refused(b.data, b.len, SHOAL_EPROTO, "signature is not 64 bytes");
	buf_release(&b);
}

/* Signs r as it is (whatever its fields), so that only the rules can refuse it. */
static void sign_as_is(EVP_PKEY *key, struct enroll_request *r)
{
	uint8_t bytes[ENROLL_SIGNED_MAX];
	assert_int_equal(identity_sign(key, bytes, enroll_signed_bytes(r, bytes), r->sig), 0);
}

static void test_rules_refused_despite_signature(void **state)
{
	struct fixture *fx = *state;
	struct buf b = BUF_INIT;
	struct enroll_request r;
	const char *bad_nicks[] = {"Laptop", "-x", "a b", "caf\xc3\xa9"};
	const char *bad_listens[] = {"", "a b:1", "host\x7f:1"};

	for (size_t i = 0; i < sizeof(bad_nicks) / sizeof(bad_nicks[0]); i++) {
		r = fx->req;
		snprintf(r.nickname, sizeof(r.nickname), "%s", bad_nicks[i]);
		sign_as_is(fx->key, &r);
		pack_with(&r, IDENTITY_KEY_LEN, IDENTITY_SIG_LEN, NULL, 0, &b);
		assert_refused(b.data, b.len, SHOAL_EPROTO, "invalid nickname");
		assert_int_equal(enroll_request_sign(fx->key, bad_nicks[i], "h:1", T0, &r),
				 SHOAL_EPROTO);
	}
	for (size_t i = 0; i < sizeof(bad_listens) / sizeof(bad_listens[0]); i++) {
		r = fx->req;
		snprintf(r.listen, sizeof(r.listen), "%s", bad_listens[i]);
		sign_as_is(fx->key, &r);
		pack_with(&r, IDENTITY_KEY_LEN, IDENTITY_SIG_LEN, NULL, 0, &b);
		assert_refused(b.data, b.len, SHOAL_EPROTO, "invalid listen address");
		assert_int_equal(enroll_request_sign(fx->key, NULL, bad_listens[i], T0, &r),
				 SHOAL_EPROTO);
	}
	/* A nickname past 32 characters: refused before anything is copied. */
	char long_nick[64];
	memset(long_nick, 'a', sizeof(long_nick) - 1);
	long_nick[sizeof(long_nick) - 1] = 0;
	Shoal__EnrollRequest m = SHOAL__ENROLL_REQUEST__INIT;
	uint8_t packed[512];
	m.public_key.data = fx->req.public_key;
	m.public_key.len = IDENTITY_KEY_LEN;
	m.nickname = long_nick;
	m.listen_addr = fx->req.listen;
	m.time = T0;
	m.signature.data = fx->req.sig;
	m.signature.len = IDENTITY_SIG_LEN;
	armor(packed, shoal__enroll_request__pack(&m, packed), ENROLL_PEM_NAME, &b);
	assert_refused(b.data, b.len, SHOAL_EPROTO, "longer than 32");
	assert_int_equal(enroll_request_sign(fx->key, long_nick, "h:1", T0, &r), SHOAL_EPROTO);
	/* No time. */
	r = fx->req;
	r.time = 0;
	sign_as_is(fx->key, &r);
	pack_with(&r, IDENTITY_KEY_LEN, IDENTITY_SIG_LEN, NULL, 0, &b);
	assert_refused(b.data, b.len, SHOAL_EPROTO, "no time");
	assert_int_equal(enroll_request_sign(fx->key, NULL, "h:1", -5, &r), SHOAL_EPROTO);
	buf_release(&b);
}

static void test_sign_needs_private_key(void **state)
{
	struct fixture *fx = *state;
	struct enroll_request r;
	EVP_PKEY *pub = NULL;
	assert_int_equal(identity_public_from_raw(fx->req.public_key, &pub), 0);
	assert_int_equal(enroll_request_sign(pub, NULL, "h:1", T0, &r), SHOAL_EIDENTITY);
	EVP_PKEY_free(pub);
}

int main(void)
{
	log_init(LOG_LEVEL_ERROR, 0);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_round_trip_without_nickname, setup, teardown),
		cmocka_unit_test_setup_teardown(test_signed_bytes_layout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tampered_fields_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tampered_text_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_oversize_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_garbage_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_message_shape_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rules_refused_despite_signature, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_sign_needs_private_key, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
