/*
 * SHA-256, HMAC, HKDF and randomness over OpenSSL 3; see hash.h. The digest and
 * KDF implementations are fetched once per process (OpenSSL's fetch is costly and
 * the fetched objects are immutable and thread-safe).
 */
#include "crypto/hash.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <string.h>

#include "util/error.h"
#include "util/log.h"

static EVP_MD *md_sha256;
static EVP_KDF *kdf_hkdf;
static pthread_once_t fetch_once = PTHREAD_ONCE_INIT;

static void fetch_algorithms(void)
{
	md_sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
	kdf_hkdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
	if (!md_sha256 || !kdf_hkdf)
		fatalx("OpenSSL lacks SHA-256 or HKDF");
}

static const EVP_MD *sha256_md(void)
{
	pthread_once(&fetch_once, fetch_algorithms);
	return md_sha256;
}

void sha256(const void *p, size_t n, uint8_t out[SHA256_LEN])
{
	unsigned int len = 0;
	if (!EVP_Digest(p, n, out, &len, sha256_md(), NULL) || len != SHA256_LEN)
		fatalx("SHA-256 failed");
}

int sha256_init(struct sha256_ctx *c)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	if (!md || !EVP_DigestInit_ex(md, sha256_md(), NULL)) {
		EVP_MD_CTX_free(md);
		c->md = NULL;
		return SHOAL_ECRYPTO;
	}
	c->md = md;
	return 0;
}

void sha256_update(struct sha256_ctx *c, const void *p, size_t n)
{
	if (!EVP_DigestUpdate(c->md, p, n))
		fatalx("SHA-256 update failed");
}

void sha256_final(struct sha256_ctx *c, uint8_t out[SHA256_LEN])
{
	unsigned int len = 0;
	if (!EVP_DigestFinal_ex(c->md, out, &len) || len != SHA256_LEN)
		fatalx("SHA-256 final failed");
	sha256_release(c);
}

void sha256_release(struct sha256_ctx *c)
{
	EVP_MD_CTX_free(c->md);
	c->md = NULL;
}

void hmac_sha256(const uint8_t *key, size_t key_len, const void *p, size_t n,
		 uint8_t out[SHA256_LEN])
{
	unsigned int len = 0;
	if (!HMAC(sha256_md(), key, (int)key_len, p, n, out, &len) || len != SHA256_LEN)
		fatalx("HMAC-SHA256 failed");
}

int hkdf_sha256(const uint8_t *ikm, size_t ikm_len, const char *info, uint8_t *out, size_t out_len)
{
	pthread_once(&fetch_once, fetch_algorithms);
	EVP_KDF_CTX *kctx = EVP_KDF_CTX_new(kdf_hkdf);
	if (!kctx)
		return SHOAL_ECRYPTO;
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, "SHA256", 0),
		OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)ikm, ikm_len),
		OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)info, strlen(info)),
		OSSL_PARAM_construct_end(),
	};
	int err = EVP_KDF_derive(kctx, out, out_len, params) == 1 ? 0 : SHOAL_ECRYPTO;
	EVP_KDF_CTX_free(kctx);
	return err;
}

int random_bytes(void *p, size_t n)
{
	if (n > INT32_MAX)
		return SHOAL_ECRYPTO;
	return RAND_bytes(p, (int)n) == 1 ? 0 : SHOAL_ECRYPTO;
}
