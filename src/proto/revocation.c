/*
 * Revocations: signed bytes, signing, checks, conversions; see revocation.h.
 */
#include "proto/revocation.h"

#include <string.h>

#include "util/error.h"

static void put_be(uint8_t *p, uint64_t v, int n)
{
	for (int i = n - 1; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

size_t revocation_signed_bytes(const struct revocation *r, uint8_t out[REVOCATION_SIGNED_MAX])
{
	size_t n = 0;
	size_t rlen = strnlen(r->reason, REVOCATION_REASON_MAX);
	memcpy(out, REVOCATION_DOMAIN, sizeof(REVOCATION_DOMAIN)); /* with its NUL */
	n += sizeof(REVOCATION_DOMAIN);
	memcpy(out + n, r->node, NODE_ID_LEN);
	n += NODE_ID_LEN;
	put_be(out + n, (uint64_t)r->time, 8);
	n += 8;
	put_be(out + n, rlen, 2);
	n += 2;
	memcpy(out + n, r->reason, rlen);
	return n + rlen;
}

int revocation_sign(EVP_PKEY *ca_key, const uint8_t node[NODE_ID_LEN], int64_t time,
		    const char *reason, struct revocation *out)
{
	struct revocation r = {0};
	uint8_t msg[REVOCATION_SIGNED_MAX];
	if (!reason)
		reason = "";
	if (strlen(reason) > REVOCATION_REASON_MAX)
		return SHOAL_ETOOBIG;
	memcpy(r.node, node, NODE_ID_LEN);
	r.time = time;
	memcpy(r.reason, reason, strlen(reason) + 1);
	int err = identity_sign(ca_key, msg, revocation_signed_bytes(&r, msg), r.sig);
	if (err)
		return err;
	*out = r;
	return 0;
}

int revocation_verify(X509 *ca, const struct revocation *r)
{
	uint8_t msg[REVOCATION_SIGNED_MAX];
	return identity_verify_signature(ca, msg, revocation_signed_bytes(r, msg), r->sig);
}

int revocation_from_pb(const Shoal__Revocation *pb, struct revocation *out)
{
	const char *reason = pb->reason ? pb->reason : "";
	size_t rlen = strlen(reason);
	if (pb->node_id.len != NODE_ID_LEN || pb->signature.len != IDENTITY_SIG_LEN ||
	    pb->time < 0 || rlen > REVOCATION_REASON_MAX)
		return SHOAL_EPROTO;
	memset(out, 0, sizeof(*out));
	memcpy(out->node, pb->node_id.data, NODE_ID_LEN);
	out->time = pb->time;
	memcpy(out->reason, reason, rlen + 1);
	memcpy(out->sig, pb->signature.data, IDENTITY_SIG_LEN);
	return 0;
}

void revocation_to_pb(const struct revocation *r, Shoal__Revocation *pb)
{
	shoal__revocation__init(pb);
	pb->node_id.data = (uint8_t *)r->node;
	pb->node_id.len = NODE_ID_LEN;
	pb->time = r->time;
	pb->reason = (char *)r->reason;
	pb->signature.data = (uint8_t *)r->sig;
	pb->signature.len = IDENTITY_SIG_LEN;
}
