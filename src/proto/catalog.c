/*
 * Catalog entry rules: signed bytes, signing, checking, and the conversions
 * between the protobuf message and struct catalog_entry; see catalog.h.
 * Checks run cheapest first, so that junk costs no signature verification.
 */
#include "proto/catalog.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509.h>

#include "util/error.h"

static uint8_t *put_be(uint8_t *p, uint64_t v, int bytes)
{
	for (int i = bytes - 1; i >= 0; i--) {
		p[i] = (uint8_t)v;
		v >>= 8;
	}
	return p + bytes;
}

size_t catalog_signed_bytes(const struct catalog_entry *e, uint8_t out[CATALOG_SIGNED_MAX])
{
	/* The struct's invariants bound both; clamping keeps a broken caller
	 * inside the buffer instead of writing past it. */
	size_t name_len = strnlen(e->name, NAME_MAX_LEN);
	size_t cap_len = strnlen(e->cap, CAPABILITY_STR_LEN);
	uint8_t *p = out;
	memcpy(p, CATALOG_DOMAIN, sizeof(CATALOG_DOMAIN)); /* with its NUL */
	p += sizeof(CATALOG_DOMAIN);
	memcpy(p, e->owner, NODE_ID_LEN);
	p += NODE_ID_LEN;
	p = put_be(p, (uint64_t)e->time_us, 8);
	*p++ = e->removed ? 1 : 0;
	p = put_be(p, e->size, 8);
	p = put_be(p, name_len, 2);
	memcpy(p, e->name, name_len);
	p += name_len;
	p = put_be(p, cap_len, 2);
	memcpy(p, e->cap, cap_len);
	p += cap_len;
	return (size_t)(p - out);
}

void catalog_entry_hash(const struct catalog_entry *e, uint8_t out[SHA256_LEN])
{
	uint8_t bytes[CATALOG_SIGNED_MAX];
	size_t n = catalog_signed_bytes(e, bytes);
	sha256(bytes, n, out);
}

/* Sets *why (when asked) and returns err. */
static int refuse(const char **why, const char *reason, int err)
{
	if (why)
		*why = reason;
	return err;
}

int catalog_entry_sign(EVP_PKEY *key, const uint8_t *cert_der, size_t cert_len, const char *name,
		       uint64_t size, const char *cap, int64_t time_us, int removed,
		       struct catalog_entry *out)
{
	struct catalog_entry e;
	uint8_t bytes[CATALOG_SIGNED_MAX];
	int err;

	if (!cap)
		cap = "";
	if (strnlen(name, NAME_MAX_LEN + 1) > NAME_MAX_LEN)
		return SHOAL_EBADNAME;
	if (strnlen(cap, CAPABILITY_STR_LEN + 1) > CAPABILITY_STR_LEN)
		return SHOAL_EBADCAP;
	if (cert_len == 0 || cert_len > CATALOG_CERT_MAX)
		return SHOAL_EIDENTITY;
	memset(&e, 0, sizeof(e));
	err = node_id_from_pkey(key, e.owner);
	if (err)
		return err;
	e.size = size;
	memcpy(e.cap, cap, strlen(cap) + 1);
	e.time_us = time_us;
	e.removed = removed ? 1 : 0;
	e.cert_len = cert_len;
	e.name = strdup(name);
	e.cert = malloc(cert_len);
	if (!e.name || !e.cert) {
		err = -ENOMEM;
		goto out;
	}
	memcpy(e.cert, cert_der, cert_len);
	err = identity_sign(key, bytes, catalog_signed_bytes(&e, bytes), e.sig);
	if (err)
		goto out;
	*out = e;
	return 0;
out:
	catalog_entry_release(&e);
	return err;
}

int catalog_entry_from_pb(const Shoal__CatalogEntry *m, struct catalog_entry *out, const char **why)
{
	const char *name = m->name ? m->name : "";
	const char *cap = m->capability ? m->capability : "";
	struct catalog_entry e;

	if (strnlen(name, NAME_MAX_LEN + 1) > NAME_MAX_LEN)
		return refuse(why, "name too long", SHOAL_EBADNAME);
	if (strnlen(cap, CAPABILITY_STR_LEN + 1) > CAPABILITY_STR_LEN)
		return refuse(why, "capability too long", SHOAL_EBADCAP);
	if (m->owner_cert.len == 0 || m->owner_cert.len > CATALOG_CERT_MAX || !m->owner_cert.data)
		return refuse(why, "no certificate, or one too long", SHOAL_EPROTO);
	if (m->signature.len != CATALOG_SIG_LEN || !m->signature.data)
		return refuse(why, "malformed signature", SHOAL_EPROTO);
	memset(&e, 0, sizeof(e));
	e.size = m->size;
	memcpy(e.cap, cap, strlen(cap) + 1);
	e.time_us = m->time;
	e.removed = m->removed ? 1 : 0;
	memcpy(e.sig, m->signature.data, CATALOG_SIG_LEN);
	e.cert_len = m->owner_cert.len;
	e.name = strdup(name);
	e.cert = malloc(e.cert_len);
	if (!e.name || !e.cert) {
		catalog_entry_release(&e);
		return refuse(why, "out of memory", -ENOMEM);
	}
	memcpy(e.cert, m->owner_cert.data, e.cert_len);
	*out = e;
	return 0;
}

void catalog_entry_to_pb(const struct catalog_entry *e, Shoal__CatalogEntry *m)
{
	shoal__catalog_entry__init(m);
	m->owner_cert.data = e->cert;
	m->owner_cert.len = e->cert_len;
	m->name = e->name;
	m->size = e->size;
	/* protobuf-c's fields are not const; packing only reads them. */
	m->capability = (char *)e->cap;
	m->time = e->time_us;
	m->removed = e->removed ? 1 : 0;
	m->signature.data = (uint8_t *)e->sig;
	m->signature.len = CATALOG_SIG_LEN;
}

void catalog_entry_release(struct catalog_entry *e)
{
	if (!e)
		return;
	free(e->name);
	free(e->cert);
	memset(e, 0, sizeof(*e));
}

int catalog_cert_check(X509 *ca_cert, const uint8_t *der, size_t len, X509 **cert_out,
		       uint8_t owner[NODE_ID_LEN])
{
	const unsigned char *p = der;
	X509 *cert;
	int err;

	if (len == 0 || len > CATALOG_CERT_MAX)
		return SHOAL_EIDENTITY;
	cert = d2i_X509(NULL, &p, (long)len);
	if (!cert || p != der + len) {
		/* Unparsable, or bytes after the certificate: either way not
		 * the one encoding the signature was meant to cover. */
		ERR_clear_error();
		X509_free(cert);
		return SHOAL_EIDENTITY;
	}
	err = identity_verify_cert(ca_cert, cert, owner);
	if (!err && cert_out) {
		*cert_out = cert;
		cert = NULL;
	}
	X509_free(cert);
	return err;
}

int catalog_entry_check_signed(X509 *cert, const struct catalog_entry *e, const char **why)
{
	uint8_t bytes[CATALOG_SIGNED_MAX];
	struct capability cap;

	if (name_validate(e->name, strlen(e->name)))
		return refuse(why, "invalid name", SHOAL_EBADNAME);
	if (e->removed) {
		if (e->cap[0])
			return refuse(why, "a removal carries a capability", SHOAL_EPROTO);
	} else if (capability_parse(&cap, e->cap)) {
		return refuse(why, "malformed capability", SHOAL_EBADCAP);
	}
	if (e->time_us <= 0)
		return refuse(why, "time is not positive", SHOAL_EPROTO);
	if (identity_verify_signature(cert, bytes, catalog_signed_bytes(e, bytes), e->sig))
		return refuse(why, "bad signature", SHOAL_EIDENTITY);
	return 0;
}

int catalog_entry_verify(X509 *ca_cert, struct catalog_entry *e, const char **why)
{
	X509 *cert = NULL;
	int err = catalog_cert_check(ca_cert, e->cert, e->cert_len, &cert, e->owner);
	if (err)
		return refuse(why, "certificate not issued by this network (or expired)", err);
	err = catalog_entry_check_signed(cert, e, why);
	X509_free(cert);
	return err;
}

int catalog_entry_check(X509 *ca_cert, const Shoal__CatalogEntry *m, uint8_t owner[NODE_ID_LEN])
{
	struct catalog_entry e;
	int err = catalog_entry_from_pb(m, &e, NULL);
	if (err)
		return err;
	err = catalog_entry_verify(ca_cert, &e, NULL);
	if (!err)
		memcpy(owner, e.owner, NODE_ID_LEN);
	catalog_entry_release(&e);
	return err;
}
