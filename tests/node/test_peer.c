/*
 * Tests for src/node/peer.c, the frame dispatcher. The admission rules of
 * its table, case by case: an unknown type, anything but Hello (or an Error)
 * first, a second Hello, a member-only message on a link that is not its
 * member's, payload bounds. Then frames dispatched on a real link between
 * two in-process nodes (fleet.h): a Ping reaches members and is answered
 * with a Pong on the wire, the link's counters count it, and a refused frame
 * (unknown type, or a payload where none belongs) closes the link, after
 * which the two nodes connect again.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <event2/thread.h>

#include "fleet.h"
#include "node/peer.h"
#include "proto/manifest.h"
#include "util/log.h"

/* ---- the table ---- */

static void test_admit_before_hello(void **state)
{
	(void)state;
	struct link l = {0};
	const char *why = NULL;
	assert_int_equal(peer_admit(&l, SHOAL__ENVELOPE__MSG_HELLO, 0, &why), PEER_ROUTE);
	assert_int_equal(peer_admit(&l, SHOAL__ENVELOPE__MSG_ERROR, 0, &why), PEER_ROUTE);
	assert_int_equal(peer_admit(&l, SHOAL__ENVELOPE__MSG_PING, 0, &why), PEER_REFUSE);
	assert_string_equal(why, "expected Hello");
	assert_int_equal(peer_admit(&l, SHOAL__ENVELOPE__MSG_PUT_CHUNK, 100, &why), PEER_REFUSE);
	assert_int_equal(peer_admit(&l, SHOAL__ENVELOPE__MSG_CATALOG_DELTA, 0, NULL), PEER_REFUSE);
	/* Revocations come first of all; Leave and Forget only from members. */
	assert_int_equal(peer_admit(&l, SHOAL__ENVELOPE__MSG_REVOCATIONS, 0, NULL), PEER_ROUTE);
	assert_int_equal(peer_admit(&l, SHOAL__ENVELOPE__MSG_LEAVE, 0, NULL), PEER_REFUSE);
	assert_int_equal(peer_admit(&l, SHOAL__ENVELOPE__MSG_FORGET, 0, NULL), PEER_REFUSE);
}

static void test_admit_unknown(void **state)
{
	(void)state;
	struct member m = {0};
	struct link l = {.hello_received = 1, .member = &m};
	const char *why = NULL;
	int unknown[] = {0, -1, 1, 9, 34, MESH_MSG_MAX - 1, MESH_MSG_MAX, 1000};
	for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++) {
		why = NULL;
		assert_int_equal(peer_admit(&l, unknown[i], 0, &why), PEER_REFUSE);
		assert_string_equal(why, "unknown message");
		assert_string_equal(peer_msg_name(unknown[i]), "unknown");
	}
	assert_string_equal(peer_msg_name(SHOAL__ENVELOPE__MSG_PUT_CHUNK), "PutChunk");
	assert_string_equal(peer_msg_name(SHOAL__ENVELOPE__MSG_RECOVERY_RECORD), "RecoveryRecord");
	assert_string_equal(peer_msg_name(SHOAL__ENVELOPE__MSG_RECOVERY_QUERY), "RecoveryQuery");
}

static void test_admit_second_hello(void **state)
{
	(void)state;
	struct member m = {0};
	struct link l = {.hello_received = 1, .member = &m};
	const char *why = NULL;
	assert_int_equal(peer_admit(&l, SHOAL__ENVELOPE__MSG_HELLO, 0, &why), PEER_REFUSE);
	assert_string_equal(why, "second Hello");
}

static void test_admit_member_only(void **state)
{
	(void)state;
	/* Hello done, but the link is no member's (it lost the race against
	 * another connection between the same nodes): ignored, not refused. */
	struct link l = {.hello_received = 1};
	int kinds[] = {SHOAL__ENVELOPE__MSG_PING,
		       SHOAL__ENVELOPE__MSG_PEERS,
		       SHOAL__ENVELOPE__MSG_GET_CHUNK,
		       SHOAL__ENVELOPE__MSG_PUT_CHUNK,
		       SHOAL__ENVELOPE__MSG_HAVE,
		       SHOAL__ENVELOPE__MSG_UNPIN,
		       SHOAL__ENVELOPE__MSG_FETCH,
		       SHOAL__ENVELOPE__MSG_CHUNK,
		       SHOAL__ENVELOPE__MSG_CATALOG_DELTA,
		       SHOAL__ENVELOPE__MSG_ERROR,
		       SHOAL__ENVELOPE__MSG_RECOVERY_RECORD,
		       SHOAL__ENVELOPE__MSG_RECOVERY_QUERY};
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		assert_int_equal(peer_admit(&l, kinds[i], 0, NULL), PEER_IGNORE);
	/* The same from a member: routed. */
	struct member m = {0};
	l.member = &m;
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		assert_int_equal(peer_admit(&l, kinds[i], 0, NULL), PEER_ROUTE);
}

static void test_admit_payload_bounds(void **state)
{
	(void)state;
	struct member m = {0};
	struct link l = {.hello_received = 1, .member = &m};
	const char *why = NULL;
	assert_int_equal(peer_admit(&l, SHOAL__ENVELOPE__MSG_PUT_CHUNK, OBJECT_SIZE_MAX, &why),
			 PEER_ROUTE);
	assert_int_equal(peer_admit(&l, SHOAL__ENVELOPE__MSG_CHUNK, OBJECT_SIZE_MAX, &why),
			 PEER_ROUTE);
	assert_int_equal(
		peer_admit(&l, SHOAL__ENVELOPE__MSG_PUT_CHUNK, (size_t)OBJECT_SIZE_MAX + 1, &why),
		PEER_REFUSE);
	assert_string_equal(why, "payload too large");
	assert_int_equal(
		peer_admit(&l, SHOAL__ENVELOPE__MSG_CHUNK, (size_t)OBJECT_SIZE_MAX + 1, &why),
		PEER_REFUSE);
	int bare[] = {SHOAL__ENVELOPE__MSG_PING, SHOAL__ENVELOPE__MSG_HAVE,
		      SHOAL__ENVELOPE__MSG_GET_CHUNK, SHOAL__ENVELOPE__MSG_PUT_ACK,
		      SHOAL__ENVELOPE__MSG_CATALOG_DIGEST};
	for (size_t i = 0; i < sizeof(bare) / sizeof(bare[0]); i++) {
		assert_int_equal(peer_admit(&l, bare[i], 1, &why), PEER_REFUSE);
		assert_string_equal(why, "unexpected payload");
	}
}

/* ---- on real links ---- */

/* Node i's established link to node j. */
static struct link *link_to(struct fleet *f, unsigned i, unsigned j)
{
	struct link *l = member_link(node_mesh(f->nodes[i]), f->ids[j]);
	assert_non_null(l);
	return l;
}

static Shoal__Envelope *envelope(int msg_case)
{
	Shoal__Envelope *env = malloc(sizeof(*env));
	assert_non_null(env);
	shoal__envelope__init(env);
	env->msg_case = (Shoal__Envelope__MsgCase)msg_case;
	if (msg_case == SHOAL__ENVELOPE__MSG_PING) {
		env->ping = malloc(sizeof(*env->ping));
		assert_non_null(env->ping);
		shoal__ping__init(env->ping);
		env->ping->nonce = 77;
	}
	return env;
}

struct pong_wait {
	struct link *l;
	uint64_t before;
};

static int pong_arrived(struct fleet *f, void *arg)
{
	(void)f;
	struct pong_wait *w = arg;
	return w->l->in.frames[SHOAL__ENVELOPE__MSG_PONG] > w->before;
}

static void test_ping_routed_to_members(void **state)
{
	struct fleet *f = *state;
	struct link *ab = link_to(f, 0, 1), *ba = link_to(f, 1, 0);
	uint64_t pings = ab->in.frames[SHOAL__ENVELOPE__MSG_PING];
	struct pong_wait w = {ba, ba->in.frames[SHOAL__ENVELOPE__MSG_PONG]};
	/* As if b had sent a it: a answers b with a Pong. */
	assert_int_equal(peer_dispatch(node_peer(f->nodes[0]), ab,
				       envelope(SHOAL__ENVELOPE__MSG_PING), NULL, 0),
			 PEER_ROUTE);
	assert_int_equal(ab->in.frames[SHOAL__ENVELOPE__MSG_PING], pings + 1);
	fleet_run_until(f, pong_arrived, &w, "b to receive a's Pong");
}

static int link_gone(struct fleet *f, void *arg)
{
	return link_find(node_mesh(f->nodes[0]), *(uint64_t *)arg) == NULL;
}

static int linked_again(struct fleet *f, void *arg)
{
	(void)arg;
	return member_link(node_mesh(f->nodes[0]), f->ids[1]) &&
	       member_link(node_mesh(f->nodes[1]), f->ids[0]);
}

static void refused_closes(struct fleet *f, Shoal__Envelope *env, uint8_t *payload, size_t len)
{
	struct link *ab = link_to(f, 0, 1);
	uint64_t serial = ab->serial;
	assert_int_equal(peer_dispatch(node_peer(f->nodes[0]), ab, env, payload, len), PEER_REFUSE);
	fleet_run_until(f, link_gone, &serial, "the refusing link to close");
	/* The members dial each other again. */
	fleet_run_until(f, linked_again, NULL, "a and b to link up again");
	assert_true(link_to(f, 0, 1)->serial != serial);
}

static void test_unknown_type_closes(void **state)
{
	refused_closes(*state, envelope(MESH_MSG_MAX - 1), NULL, 0);
}

static void test_payload_where_none_belongs_closes(void **state)
{
	uint8_t *payload = malloc(64);
	assert_non_null(payload);
	memset(payload, 0xab, 64);
	/* The dispatcher frees the payload it was given (ASan checks). */
	refused_closes(*state, envelope(SHOAL__ENVELOPE__MSG_PING), payload, 64);
}

int main(void)
{
	if (fleet_process_init())
		return 1;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_admit_before_hello),
		cmocka_unit_test(test_admit_unknown),
		cmocka_unit_test(test_admit_second_hello),
		cmocka_unit_test(test_admit_member_only),
		cmocka_unit_test(test_admit_payload_bounds),
		FLEET_PAIR_TEST(test_ping_routed_to_members),
		FLEET_PAIR_TEST(test_unknown_type_closes),
		FLEET_PAIR_TEST(test_payload_where_none_belongs_closes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
