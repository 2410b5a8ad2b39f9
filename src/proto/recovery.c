/*
 * Recovery records and name tables: signed bytes, signing, checking and the
 * protobuf conversions; see recovery.h.
 */
#include "proto/recovery.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/x509.h>

#include "proto/catalog.h"
#include "util/error.h"

#define TABLE_FORMAT 1

static int refuse(const char **why, const char *text, int err)
{
	if (why)
		*why = text;
	return err;
}

size_t recovery_signed_bytes(const struct recovery_record *r, uint8_t out[RECOVERY_SIGNED_MAX])
{
	uint8_t *p = out;
	memcpy(p, RECOVERY_DOMAIN, sizeof(RECOVERY_DOMAIN)); /* with its NUL */
	p += sizeof(RECOVERY_DOMAIN);
	memcpy(p, r->owner, NODE_ID_LEN);
	p += NODE_ID_LEN;
	for (int i = 0; i < 8; i++)
		*p++ = (uint8_t)(r->seq >> (56 - 8 * i));
	memcpy(p, r->locator, RECOVERY_LOCATOR_LEN);
	p += RECOVERY_LOCATOR_LEN;
	*p++ = (uint8_t)(r->sealed_len >> 8);
	*p++ = (uint8_t)r->sealed_len;
	memcpy(p, r->sealed, r->sealed_len);
	p += r->sealed_len;
	return (size_t)(p - out);
}

int recovery_record_sign(EVP_PKEY *key, const uint8_t owner[NODE_ID_LEN], const uint8_t *cert_der,
			 size_t cert_len, uint64_t seq, const uint8_t locator[RECOVERY_LOCATOR_LEN],
			 const uint8_t *sealed, size_t sealed_len, struct recovery_record *out)
{
	if (cert_len == 0 || cert_len > RECOVERY_CERT_MAX || sealed_len == 0 ||
	    sealed_len > RECOVERY_SEALED_MAX)
		return SHOAL_ETOOBIG;
	memset(out, 0, sizeof(*out));
	memcpy(out->cert, cert_der, cert_len);
	out->cert_len = cert_len;
	out->seq = seq;
	memcpy(out->locator, locator, RECOVERY_LOCATOR_LEN);
	memcpy(out->sealed, sealed, sealed_len);
	out->sealed_len = sealed_len;
	memcpy(out->owner, owner, NODE_ID_LEN);
	uint8_t bytes[RECOVERY_SIGNED_MAX];
	return identity_sign(key, bytes, recovery_signed_bytes(out, bytes), out->sig);
}

int recovery_record_from_pb(const Shoal__RecoveryRecord *m, struct recovery_record *out)
{
	if (m->owner_cert.len == 0 || m->owner_cert.len > RECOVERY_CERT_MAX ||
	    m->locator.len != RECOVERY_LOCATOR_LEN || m->sealed_capability.len == 0 ||
	    m->sealed_capability.len > RECOVERY_SEALED_MAX || m->signature.len != RECOVERY_SIG_LEN)
		return SHOAL_EPROTO;
	memset(out, 0, sizeof(*out));
	memcpy(out->cert, m->owner_cert.data, m->owner_cert.len);
	out->cert_len = m->owner_cert.len;
	out->seq = m->seq;
	memcpy(out->locator, m->locator.data, RECOVERY_LOCATOR_LEN);
	memcpy(out->sealed, m->sealed_capability.data, m->sealed_capability.len);
	out->sealed_len = m->sealed_capability.len;
	memcpy(out->sig, m->signature.data, RECOVERY_SIG_LEN);
	return 0;
}

void recovery_record_to_pb(const struct recovery_record *r, Shoal__RecoveryRecord *m)
{
	shoal__recovery_record__init(m);
	m->owner_cert.data = (uint8_t *)r->cert;
	m->owner_cert.len = r->cert_len;
	m->seq = r->seq;
	m->locator.data = (uint8_t *)r->locator;
	m->locator.len = RECOVERY_LOCATOR_LEN;
	m->sealed_capability.data = (uint8_t *)r->sealed;
	m->sealed_capability.len = r->sealed_len;
	m->signature.data = (uint8_t *)r->sig;
	m->signature.len = RECOVERY_SIG_LEN;
}

int recovery_record_verify(X509 *ca_cert, struct recovery_record *r, const char **why)
{
	X509 *cert = NULL;
	uint8_t bytes[RECOVERY_SIGNED_MAX];
	if (catalog_cert_check(ca_cert, r->cert, r->cert_len, &cert, r->owner))
		return refuse(why, "certificate not issued by this network (or expired)",
			      SHOAL_EIDENTITY);
	int err = identity_verify_signature(cert, bytes, recovery_signed_bytes(r, bytes), r->sig);
	X509_free(cert);
	return err ? refuse(why, "bad signature", SHOAL_EIDENTITY) : 0;
}

int recovery_record_pack(const struct recovery_record *r, struct buf *out)
{
	Shoal__RecoveryRecord m;
	recovery_record_to_pb(r, &m);
	size_t n = shoal__recovery_record__get_packed_size(&m);
	buf_grow(out, n);
	shoal__recovery_record__pack(&m, (uint8_t *)out->data + out->len);
	buf_setlen(out, out->len + n);
	return 0;
}

int recovery_record_unpack(const uint8_t *p, size_t n, struct recovery_record *out)
{
	if (n > RECOVERY_RECORD_MAX)
		return SHOAL_EPROTO;
	Shoal__RecoveryRecord *m = shoal__recovery_record__unpack(NULL, n, p);
	if (!m)
		return SHOAL_EPROTO;
	int err = recovery_record_from_pb(m, out);
	shoal__recovery_record__free_unpacked(m, NULL);
	return err;
}

int recovery_table_pack(const struct recovery_entry *e, size_t n, struct buf *out)
{
	if (n > RECOVERY_TABLE_ENTRIES_MAX)
		return SHOAL_ETOOBIG;
	Shoal__NameTable t = SHOAL__NAME_TABLE__INIT;
	Shoal__NameTableEntry *pe = calloc(n ? n : 1, sizeof(*pe));
	Shoal__NameTableEntry **pp = calloc(n ? n : 1, sizeof(*pp));
	int err = 0;
	if (!pe || !pp) {
		err = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		shoal__name_table_entry__init(&pe[i]);
		pe[i].name = (char *)e[i].name;
		pe[i].version = e[i].version;
		pe[i].capability = (char *)e[i].cap;
		pe[i].size = e[i].size;
		pe[i].created = e[i].created;
		pp[i] = &pe[i];
	}
	t.format = TABLE_FORMAT;
	t.entries = pp;
	t.n_entries = n;
	size_t len = shoal__name_table__get_packed_size(&t);
	if (len > RECOVERY_TABLE_MAX) {
		err = SHOAL_ETOOBIG;
		goto out;
	}
	buf_grow(out, len);
	shoal__name_table__pack(&t, (uint8_t *)out->data + out->len);
	buf_setlen(out, out->len + len);
out:
	free(pe);
	free(pp);
	return err;
}

int recovery_table_unpack(const uint8_t *p, size_t n, struct recovery_entry **out, size_t *count)
{
	if (n > RECOVERY_TABLE_MAX)
		return SHOAL_ETOOBIG;
	Shoal__NameTable *t = shoal__name_table__unpack(NULL, n, p);
	if (!t)
		return SHOAL_EPROTO;
	struct recovery_entry *e = NULL;
	int err = 0;
	if (t->format != TABLE_FORMAT) {
		err = SHOAL_EVERSION;
		goto out;
	}
	if (t->n_entries > RECOVERY_TABLE_ENTRIES_MAX) {
		err = SHOAL_ETOOBIG;
		goto out;
	}
	e = calloc(t->n_entries ? t->n_entries : 1, sizeof(*e));
	if (!e) {
		err = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < t->n_entries; i++) {
		const Shoal__NameTableEntry *m = t->entries[i];
		struct capability cap;
		size_t nl = strlen(m->name);
		if (name_validate(m->name, nl) || m->version == 0 ||
		    strlen(m->capability) > CAPABILITY_STR_LEN ||
		    capability_parse(&cap, m->capability)) {
			err = SHOAL_EPROTO;
			goto out;
		}
		memcpy(e[i].name, m->name, nl + 1);
		e[i].version = m->version;
		snprintf(e[i].cap, sizeof(e[i].cap), "%s", m->capability);
		e[i].size = m->size;
		e[i].created = m->created;
	}
	*out = e;
	*count = t->n_entries;
	e = NULL;
out:
	free(e);
	shoal__name_table__free_unpacked(t, NULL);
	return err;
}
