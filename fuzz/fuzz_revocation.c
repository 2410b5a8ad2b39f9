/*
 * libFuzzer harness for revocations as a peer sends them: a Revocations
 * message (src/proto/revocation.h), as trust.c reads one before Hello. Each
 * entry goes through revocation_from_pb(); the properties checked:
 *   - an accepted entry keeps the struct's invariants (a NUL-terminated
 *     reason of at most REVOCATION_REASON_MAX bytes, a time >= 0) and
 *     survives revocation_to_pb() and from_pb again unchanged;
 *   - its signed bytes fit REVOCATION_SIGNED_MAX;
 *   - it never verifies against a CA whose key the input cannot know (made
 *     fresh here), unless signed by that key here: then it verifies, and
 *     with one bit of its reason, node or time changed it does not.
 * A broken property aborts.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "crypto/identity.h"
#include "proto/revocation.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static EVP_PKEY *ca_key;
static X509 *ca_cert;

static void fail(const char *what)
{
	fprintf(stderr, "fuzz_revocation: %s\n", what);
	abort();
}

/* A CA of our own: a key and a self-signed certificate for it (the node
 * certificate maker is enough: only its key matters to verification). */
static void setup(void)
{
	if (ca_key)
		return;
	ca_key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	if (!ca_key)
		fail("keygen");
	ca_cert = X509_new();
	if (!ca_cert || !X509_set_pubkey(ca_cert, ca_key))
		fail("certificate");
}

static void check_one(const Shoal__Revocation *pb)
{
	struct revocation r, again;
	Shoal__Revocation back;
	uint8_t msg[REVOCATION_SIGNED_MAX];

	if (revocation_from_pb(pb, &r) != 0)
		return;
	if (strlen(r.reason) > REVOCATION_REASON_MAX || r.time < 0)
		fail("revocation_from_pb broke an invariant");
	if (revocation_signed_bytes(&r, msg) > REVOCATION_SIGNED_MAX)
		fail("signed bytes overflow");
	revocation_to_pb(&r, &back);
	if (revocation_from_pb(&back, &again) != 0 || memcmp(&r, &again, sizeof(r)))
		fail("a revocation changed across to_pb and from_pb");
	if (revocation_verify(ca_cert, &r) == 0)
		fail("an input verified against a CA it cannot know");
	struct revocation mine;
	if (revocation_sign(ca_key, r.node, r.time, r.reason, &mine) != 0)
		fail("signing a valid revocation");
	if (revocation_verify(ca_cert, &mine) != 0)
		fail("our own signature does not verify");
	mine.node[r.time % NODE_ID_LEN] ^= 1;
	if (revocation_verify(ca_cert, &mine) == 0)
		fail("a changed node id still verifies");
	mine.node[r.time % NODE_ID_LEN] ^= 1;
	mine.time ^= 1;
	if (revocation_verify(ca_cert, &mine) == 0)
		fail("a changed time still verifies");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	setup();
	Shoal__Revocations *m = shoal__revocations__unpack(NULL, size, data);
	if (!m)
		return 0;
	for (size_t i = 0; i < m->n_list; i++)
		check_one(m->list[i]);
	shoal__revocations__free_unpacked(m, NULL);
	return 0;
}
