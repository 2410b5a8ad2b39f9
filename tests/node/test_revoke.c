/*
 * Tests for src/node/revoke.c and src/proto/revocation.c: a revocation
 * signed by the network's CA is kept once and saved, survives a reload, and
 * names its node; one signed by another key, or changed after signing, is
 * refused and never saved; a damaged or forged file loads as what checks out.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "../fixture.h"
#include "crypto/identity.h"
#include "node/revoke.h"
#include "util/error.h"
#include "util/fsutil.h"

struct env {
	char dir[TEST_DIR_SIZE];
	char net[TEST_DIR_SIZE + 16], other[TEST_DIR_SIZE + 16];
	EVP_PKEY *key, *other_key;
};

static void copy_file(const char *from, const char *to)
{
	struct buf b = BUF_INIT;
	assert_int_equal(read_file(from, &b, 1 << 20), 0);
	assert_int_equal(write_file_atomic(to, b.data, b.len, 0600), 0);
	buf_release(&b);
}

static int setup(void **state)
{
	static struct env e;
	char ca[TEST_DIR_SIZE + 16];
	memset(&e, 0, sizeof(e));
	if (test_dir_make(e.dir, "revoke"))
		return -1;
	snprintf(e.net, sizeof(e.net), "%s/net.pem", e.dir);
	snprintf(e.other, sizeof(e.other), "%s/other.pem", e.dir);
	snprintf(ca, sizeof(ca), "%s/ca.crt", e.dir);
	if (network_create(e.net) || network_create(e.other) || identity_load_key(e.net, &e.key) ||
	    identity_load_key(e.other, &e.other_key))
		return -1;
	/* The home's ca.crt: its first certificate is the CA's. */
	copy_file(e.net, ca);
	*state = &e;
	return 0;
}

static int teardown(void **state)
{
	struct env *e = *state;
	EVP_PKEY_free(e->key);
	EVP_PKEY_free(e->other_key);
	test_dir_remove(e->dir);
	return 0;
}

static void node(uint8_t id[NODE_ID_LEN], unsigned char fillc)
{
	memset(id, fillc, NODE_ID_LEN);
}

static void test_signed_by_the_ca_is_kept_once(void **state)
{
	struct env *e = *state;
	struct revocations rv;
	struct revocation r;
	uint8_t id[NODE_ID_LEN];
	node(id, 0x11);
	assert_int_equal(revocations_open(&rv, e->dir), 0);
	assert_null(revocations_find(&rv, id));
	assert_int_equal(revocation_sign(e->key, id, 1790000000, "laptop stolen", &r), 0);
	assert_int_equal(revocations_add(&rv, &r), 1);
	assert_int_equal(revocations_add(&rv, &r), 0);
	const struct revocation *f = revocations_find(&rv, id);
	assert_non_null(f);
	assert_string_equal(f->reason, "laptop stolen");
	assert_int_equal(rv.count, 1);
	revocations_close(&rv);
	/* Saved: a fresh load finds it. */
	assert_int_equal(revocations_open(&rv, e->dir), 0);
	assert_int_equal(rv.count, 1);
	assert_non_null(revocations_find(&rv, id));
	revocations_close(&rv);
}

static void test_forged_and_changed_are_refused(void **state)
{
	struct env *e = *state;
	struct revocations rv;
	struct revocation r;
	uint8_t id[NODE_ID_LEN];
	node(id, 0x22);
	assert_int_equal(revocations_open(&rv, e->dir), 0);
	size_t before = rv.count;
	/* Another network's CA. */
	assert_int_equal(revocation_sign(e->other_key, id, 1790000000, "", &r), 0);
	assert_int_equal(revocations_add(&rv, &r), SHOAL_EIDENTITY);
	/* Ours, changed after signing: node, time, reason. */
	assert_int_equal(revocation_sign(e->key, id, 1790000000, "retired", &r), 0);
	struct revocation x = r;
	x.node[0] ^= 1;
	assert_int_equal(revocations_add(&rv, &x), SHOAL_EIDENTITY);
	x = r;
	x.time++;
	assert_int_equal(revocations_add(&rv, &x), SHOAL_EIDENTITY);
	x = r;
	x.reason[0] = 'R';
	assert_int_equal(revocations_add(&rv, &x), SHOAL_EIDENTITY);
	assert_int_equal(rv.count, before);
	assert_null(revocations_find(&rv, id));
	/* Too long a reason cannot be signed. */
	char reason[REVOCATION_REASON_MAX + 2];
	memset(reason, 'a', sizeof(reason) - 1);
	reason[sizeof(reason) - 1] = 0;
	assert_int_equal(revocation_sign(e->key, id, 1, reason, &r), SHOAL_ETOOBIG);
	revocations_close(&rv);
}

static void test_damaged_file_keeps_what_checks_out(void **state)
{
	struct env *e = *state;
	struct revocations rv;
	struct revocation good, forged;
	uint8_t a[NODE_ID_LEN], b[NODE_ID_LEN];
	char path[TEST_DIR_SIZE + 32];
	node(a, 0x33);
	node(b, 0x44);
	snprintf(path, sizeof(path), "%s/revocations", e->dir);
	assert_int_equal(revocations_open(&rv, e->dir), 0);
	assert_int_equal(revocation_sign(e->key, a, 5, "a", &good), 0);
	assert_int_equal(revocations_add(&rv, &good), 1);
	/* A forged entry slipped into the list (as a tampered file would
	 * hold it) is skipped at the next load. */
	assert_int_equal(revocation_sign(e->other_key, b, 6, "b", &forged), 0);
	rv.list[rv.count++] = forged; /* cap >= 16 after the first add */
	struct revocation c;
	uint8_t cid[NODE_ID_LEN];
	node(cid, 0x55);
	assert_int_equal(revocation_sign(e->key, cid, 7, "c", &c), 0);
	assert_int_equal(revocations_add(&rv, &c), 1); /* saves all three */
	revocations_close(&rv);
	assert_int_equal(revocations_open(&rv, e->dir), 0);
	assert_non_null(revocations_find(&rv, a));
	assert_non_null(revocations_find(&rv, cid));
	assert_null(revocations_find(&rv, b));
	revocations_close(&rv);
	/* Garbage: no revocation, no failure. */
	assert_int_equal(write_file_atomic(path, "\xff\xff\xff", 3, 0600), 0);
	assert_int_equal(revocations_open(&rv, e->dir), 0);
	assert_int_equal(rv.count, 0);
	revocations_close(&rv);
}

static void test_frames_carry_every_revocation(void **state)
{
	struct env *e = *state;
	struct revocations rv;
	assert_int_equal(revocations_open(&rv, e->dir), 0);
	size_t want = REVOCATIONS_PER_FRAME + 3;
	for (size_t i = rv.count; i < want; i++) {
		struct revocation r;
		uint8_t id[NODE_ID_LEN] = {0};
		id[0] = 0x80;
		id[1] = (uint8_t)i;
		id[2] = (uint8_t)(i >> 8);
		assert_int_equal(revocation_sign(e->key, id, (int64_t)i, "", &r), 0);
		assert_int_equal(revocations_add(&rv, &r), 1);
	}
	Shoal__Revocation pbs[REVOCATIONS_PER_FRAME];
	Shoal__Revocation *ptrs[REVOCATIONS_PER_FRAME];
	size_t seen = 0, frames = 0;
	for (size_t from = 0; from < rv.count; frames++) {
		Shoal__Envelope env = SHOAL__ENVELOPE__INIT;
		Shoal__Revocations msg;
		size_t n = revocations_frame(&rv, from, &env, &msg, pbs, ptrs);
		assert_true(n > 0 && n <= REVOCATIONS_PER_FRAME);
		assert_int_equal(env.msg_case, SHOAL__ENVELOPE__MSG_REVOCATIONS);
		for (size_t i = 0; i < n; i++) {
			struct revocation r;
			assert_int_equal(revocation_from_pb(msg.list[i], &r), 0);
			assert_int_equal(revocation_verify(rv.ca, &r), 0);
		}
		seen += n;
		from += n;
	}
	assert_int_equal(seen, rv.count);
	assert_int_equal(frames, (rv.count + REVOCATIONS_PER_FRAME - 1) / REVOCATIONS_PER_FRAME);
	revocations_close(&rv);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_signed_by_the_ca_is_kept_once),
		cmocka_unit_test(test_forged_and_changed_are_refused),
		cmocka_unit_test(test_damaged_file_keeps_what_checks_out),
		cmocka_unit_test(test_frames_carry_every_revocation),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
