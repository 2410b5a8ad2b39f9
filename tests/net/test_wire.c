/*
 * Tests for src/net/wire.c: Envelope and control message codecs. Every message
 * type round-trips through its packer and decoder (peer messages through
 * wire_send() and a frame_reader, with their payloads). Each validation rule
 * is broken alone in a message packed by hand with protobuf-c, which the
 * decoder must refuse and the packer must refuse to send. Garbage, every
 * strict prefix of valid encodings and random mutations must be refused or
 * yield a message that passes validation again; a counting allocator checks
 * that whatever the decoder allocates it frees (the sanitizer build checks
 * the default allocator's paths for leaks).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <event2/buffer.h>

#include "net/addr.h"
#include "net/frame.h"
#include "net/wire.h"
#include "proto/manifest.h"
#include "proto/name.h"
#include "util/buf.h"
#include "util/error.h"

static uint32_t rng_state = 2024;

static uint32_t rng(void)
{
	uint32_t x = rng_state;
	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	rng_state = x;
	return x;
}

static uint8_t id_a[WIRE_ID_LEN], id_b[WIRE_ID_LEN], id_long[WIRE_ID_LEN + 1];
/* Zero bytes to send as payloads: the largest a test needs. */
static uint8_t *zeros;

static int setup(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(id_a); i++) {
		id_a[i] = (uint8_t)(i + 1);
		id_b[i] = (uint8_t)(0xA0 ^ i);
	}
	memset(id_long, 0x5A, sizeof(id_long));
	zeros = calloc(1, OBJECT_SIZE_MAX + 1);
	return zeros ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	free(zeros);
	return 0;
}

static ProtobufCBinaryData bin(const uint8_t *p, size_t n)
{
	ProtobufCBinaryData b = {n, (uint8_t *)p};
	return b;
}

/* Packs any message without validation (what a hostile peer could send). */
static uint8_t *pack_raw(const ProtobufCMessage *m, size_t *n)
{
	*n = protobuf_c_message_get_packed_size(m);
	uint8_t *p = malloc(*n ? *n : 1);
	assert_non_null(p);
	assert_int_equal(protobuf_c_message_pack(m, p), *n);
	return p;
}

/* A counting allocator: every byte it hands out must come back. */
struct counting {
	ProtobufCAllocator a;
	size_t allocs, frees;
};

static void *counting_alloc(void *ctx, size_t n)
{
	struct counting *c = ctx;
	c->allocs++;
	return malloc(n);
}

static void counting_free(void *ctx, void *p)
{
	struct counting *c = ctx;
	if (p)
		c->frees++;
	free(p);
}

static void counting_init(struct counting *c)
{
	c->a.alloc = counting_alloc;
	c->a.free = counting_free;
	c->a.allocator_data = c;
	c->allocs = c->frees = 0;
}

/* Decodes p with a counting allocator; asserts balance and returns the result. */
static int decode_counted(const uint8_t *p, size_t n)
{
	struct counting c;
	Shoal__Envelope *env = NULL;
	counting_init(&c);
	int err = wire_decode(p, n, &c.a, &env);
	if (err) {
		assert_int_equal(err, SHOAL_EPROTO);
		assert_null(env);
	} else {
		assert_non_null(env);
		wire_free(env, &c.a);
	}
	assert_int_equal(c.allocs, c.frees);
	return err;
}

/*
 * Sends env (with payload n zero bytes) and reads it back through a frame
 * reader; the decoded Envelope must pack to the same bytes as env.
 */
static void envelope_round_trip(Shoal__Envelope *env, size_t n)
{
	struct evbuffer *buf = evbuffer_new();
	struct frame_reader r;
	struct frame f;

	assert_int_equal(wire_send(buf, env, n ? zeros : NULL, n), 0);
	assert_int_equal(env->payload_len, n);
	size_t want_len, got_len;
	uint8_t *want = pack_raw(&env->base, &want_len);
	assert_int_equal(evbuffer_get_length(buf), 4 + want_len + n);

	frame_reader_init(&r, wire_frame_decode, wire_frame_free, NULL, OBJECT_SIZE_MAX);
	assert_int_equal(frame_reader_next(&r, buf, &f), 1);
	assert_int_equal(f.payload_len, n);
	if (n)
		assert_memory_equal(f.payload, zeros, n);
	Shoal__Envelope *got = f.msg;
	assert_int_equal(got->msg_case, env->msg_case);
	assert_int_equal(got->request_id, env->request_id);
	uint8_t *again = pack_raw(&got->base, &got_len);
	assert_int_equal(got_len, want_len);
	assert_memory_equal(again, want, want_len);
	assert_int_equal(frame_reader_next(&r, buf, &f), 0);
	assert_int_equal(decode_counted(want, want_len), 0);

	frame_msg_free(&r, got);
	free(f.payload);
	frame_reader_release(&r);
	free(want);
	free(again);
	evbuffer_free(buf);
}

/*
 * env (whose payload_len says what it claims) breaks a rule: the decoder
 * refuses its bytes, and wire_send refuses to send it.
 */
static void envelope_rejected(Shoal__Envelope *env)
{
	size_t n;
	uint8_t *p = pack_raw(&env->base, &n);
	Shoal__Envelope *out = (Shoal__Envelope *)&n; /* must stay untouched */
	uint32_t claimed = env->payload_len;

	assert_int_equal(wire_decode(p, n, NULL, &out), SHOAL_EPROTO);
	assert_ptr_equal(out, (Shoal__Envelope *)&n);
	assert_int_equal(decode_counted(p, n), SHOAL_EPROTO);

	struct evbuffer *buf = evbuffer_new();
	assert_int_equal(wire_send(buf, env, claimed ? zeros : NULL, claimed), SHOAL_EPROTO);
	assert_int_equal(evbuffer_get_length(buf), 0);
	evbuffer_free(buf);
	free(p);
}

static void test_hello_round_trip(void **state)
{
	(void)state;
	Shoal__Envelope env = SHOAL__ENVELOPE__INIT;
	Shoal__Hello hello = SHOAL__HELLO__INIT;
	hello.version = SHOAL__PROTOCOL_VERSION__PROTOCOL_VERSION_1;
	hello.node_id = bin(id_a, WIRE_ID_LEN);
	hello.listen_addr = "node1.example:7400";
	hello.features = 0x8000000000000001ull;
	env.msg_case = SHOAL__ENVELOPE__MSG_HELLO;
	env.hello = &hello;
	envelope_round_trip(&env, 0);
	hello.listen_addr = "";
	envelope_round_trip(&env, 0);
	hello.listen_addr = "[::1]:1";
	envelope_round_trip(&env, 0);
	/* The version is the protocol layer's to refuse, with a VERSION error. */
	hello.version = 77;
	envelope_round_trip(&env, 0);
}

static void test_ping_pong_round_trip(void **state)
{
	(void)state;
	Shoal__Envelope env = SHOAL__ENVELOPE__INIT;
	Shoal__Ping ping = SHOAL__PING__INIT;
	Shoal__Pong pong = SHOAL__PONG__INIT;
	ping.nonce = 0xDEADBEEFCAFEull;
	pong.nonce = 1;
	env.request_id = 99;
	env.msg_case = SHOAL__ENVELOPE__MSG_PING;
	env.ping = &ping;
	envelope_round_trip(&env, 0);
	env.msg_case = SHOAL__ENVELOPE__MSG_PONG;
	env.pong = &pong;
	envelope_round_trip(&env, 0);
	/* All-default submessages are still "set". */
	pong.nonce = 0;
	env.request_id = 0;
	envelope_round_trip(&env, 0);
}

/* Fills n members with distinct ids and addresses of addr_len bytes. */
static void make_members(Shoal__Member *members, Shoal__Member **ptrs, uint8_t (*ids)[WIRE_ID_LEN],
			 char (*addrs)[ADDR_MAX], size_t n, size_t addr_len)
{
	for (size_t i = 0; i < n; i++) {
		shoal__member__init(&members[i]);
		memset(ids[i], (int)(i & 0xff), WIRE_ID_LEN);
		ids[i][0] = (uint8_t)(i >> 8);
		/* "h..h<i>:7400", padded with 'h' to addr_len bytes. */
		char tail[32];
		int tail_len = snprintf(tail, sizeof(tail), "%zu:7400", i);
		size_t pad = addr_len > (size_t)tail_len ? addr_len - (size_t)tail_len : 1;
		memset(addrs[i], 'h', pad);
		memcpy(addrs[i] + pad, tail, (size_t)tail_len + 1);
		members[i].node_id = bin(ids[i], WIRE_ID_LEN);
		members[i].addr = addrs[i];
		members[i].last_seen = (int64_t)i * 1000;
		ptrs[i] = &members[i];
	}
}

struct member_set {
	Shoal__Member members[WIRE_MEMBERS_MAX + 1];
	Shoal__Member *ptrs[WIRE_MEMBERS_MAX + 1];
	uint8_t ids[WIRE_MEMBERS_MAX + 1][WIRE_ID_LEN];
	char addrs[WIRE_MEMBERS_MAX + 1][ADDR_MAX];
};

static void test_peers_round_trip(void **state)
{
	(void)state;
	struct member_set *set = calloc(1, sizeof(*set));
	assert_non_null(set);
	Shoal__Envelope env = SHOAL__ENVELOPE__INIT;
	Shoal__Peers peers = SHOAL__PEERS__INIT;
	env.msg_case = SHOAL__ENVELOPE__MSG_PEERS;
	env.peers = &peers;

	envelope_round_trip(&env, 0);
	make_members(set->members, set->ptrs, set->ids, set->addrs, WIRE_MEMBERS_MAX, 20);
	peers.members = set->ptrs;
	peers.n_members = 1;
	envelope_round_trip(&env, 0);
	peers.n_members = WIRE_MEMBERS_MAX;
	envelope_round_trip(&env, 0);
	free(set);
}

/* 256 members with 255-byte addresses are valid but do not fit one frame. */
static void test_peers_too_big_for_frame(void **state)
{
	(void)state;
	struct member_set *set = calloc(1, sizeof(*set));
	assert_non_null(set);
	Shoal__Envelope env = SHOAL__ENVELOPE__INIT;
	Shoal__Peers peers = SHOAL__PEERS__INIT;
	env.msg_case = SHOAL__ENVELOPE__MSG_PEERS;
	env.peers = &peers;
	make_members(set->members, set->ptrs, set->ids, set->addrs, WIRE_MEMBERS_MAX, ADDR_MAX - 1);
	peers.members = set->ptrs;
	peers.n_members = WIRE_MEMBERS_MAX;

	struct evbuffer *buf = evbuffer_new();
	assert_int_equal(wire_send(buf, &env, NULL, 0), SHOAL_ETOOBIG);
	assert_int_equal(evbuffer_get_length(buf), 0);
	/* Its bytes are over the header limit, so no decoder takes them either. */
	size_t n;
	uint8_t *p = pack_raw(&env.base, &n);
	assert_true(n > FRAME_HEADER_MAX);
	Shoal__Envelope *out = NULL;
	assert_int_equal(wire_decode(p, n, NULL, &out), SHOAL_EPROTO);
	free(p);
	evbuffer_free(buf);
	free(set);
}

static void test_chunk_round_trip(void **state)
{
	(void)state;
	Shoal__Envelope env = SHOAL__ENVELOPE__INIT;
	Shoal__GetChunk get = SHOAL__GET_CHUNK__INIT;
	Shoal__Chunk chunk = SHOAL__CHUNK__INIT;
	get.id = bin(id_a, WIRE_ID_LEN);
	chunk.id = bin(id_b, WIRE_ID_LEN);
	env.request_id = 12345678901234ull;
	env.msg_case = SHOAL__ENVELOPE__MSG_GET_CHUNK;
	env.get_chunk = &get;
	envelope_round_trip(&env, 0);
	env.msg_case = SHOAL__ENVELOPE__MSG_CHUNK;
	env.chunk = &chunk;
	envelope_round_trip(&env, WIRE_CHUNK_MIN);
	envelope_round_trip(&env, 100000);
	envelope_round_trip(&env, OBJECT_SIZE_MAX);
}

static void test_error_round_trip(void **state)
{
	(void)state;
	char text[WIRE_TEXT_MAX + 1];
	Shoal__Envelope env = SHOAL__ENVELOPE__INIT;
	Shoal__Error error = SHOAL__ERROR__INIT;
	env.msg_case = SHOAL__ENVELOPE__MSG_ERROR;
	env.error = &error;
	error.code = SHOAL__ERROR__CODE__NOT_FOUND;
	error.text = "no such chunk";
	envelope_round_trip(&env, 0);
	memset(text, 'x', WIRE_TEXT_MAX);
	text[WIRE_TEXT_MAX] = '\0';
	error.text = text;
	error.code = SHOAL__ERROR__CODE__VERSION;
	envelope_round_trip(&env, 0);
	/* Codes this build does not know still decode (as UNKNOWN to the reader). */
	error.code = (Shoal__Error__Code)1000;
	error.text = "";
	envelope_round_trip(&env, 0);
}

static void test_envelope_needs_a_message(void **state)
{
	(void)state;
	Shoal__Envelope env = SHOAL__ENVELOPE__INIT;
	env.request_id = 5;
	envelope_rejected(&env);
	/* Empty input: nothing set. */
	Shoal__Envelope *out = NULL;
	assert_int_equal(wire_decode((const uint8_t *)"", 0, NULL, &out), SHOAL_EPROTO);
	/* A set case without its submessage (only possible by hand) is not sent. */
	struct evbuffer *buf = evbuffer_new();
	env.msg_case = SHOAL__ENVELOPE__MSG_PING;
	env.ping = NULL;
	assert_int_equal(wire_send(buf, &env, NULL, 0), SHOAL_EPROTO);
	assert_int_equal(evbuffer_get_length(buf), 0);
	evbuffer_free(buf);
}

/* Two messages on the wire: protobuf keeps the last one, and nothing leaks. */
static void test_envelope_two_messages_last_wins(void **state)
{
	(void)state;
	Shoal__Envelope a = SHOAL__ENVELOPE__INIT, b = SHOAL__ENVELOPE__INIT;
	Shoal__Ping ping = SHOAL__PING__INIT;
	Shoal__Hello hello = SHOAL__HELLO__INIT;
	hello.node_id = bin(id_a, WIRE_ID_LEN);
	hello.listen_addr = "a:1";
	a.msg_case = SHOAL__ENVELOPE__MSG_HELLO;
	a.hello = &hello;
	b.msg_case = SHOAL__ENVELOPE__MSG_PING;
	b.ping = &ping;
	size_t na, nb;
	uint8_t *pa = pack_raw(&a.base, &na), *pb = pack_raw(&b.base, &nb);
	uint8_t both[512];
	assert_true(na + nb <= sizeof(both));

	memcpy(both, pa, na);
	memcpy(both + na, pb, nb);
	Shoal__Envelope *out = NULL;
	assert_int_equal(wire_decode(both, na + nb, NULL, &out), 0);
	assert_int_equal(out->msg_case, SHOAL__ENVELOPE__MSG_PING);
	wire_free(out, NULL);
	assert_int_equal(decode_counted(both, na + nb), 0);

	memcpy(both, pb, nb);
	memcpy(both + nb, pa, na);
	assert_int_equal(wire_decode(both, na + nb, NULL, &out), 0);
	assert_int_equal(out->msg_case, SHOAL__ENVELOPE__MSG_HELLO);
	wire_free(out, NULL);
	assert_int_equal(decode_counted(both, na + nb), 0);

	/* Two Hellos, the first valid and the second not: the second is judged. */
	Shoal__Hello bad = SHOAL__HELLO__INIT;
	bad.node_id = bin(id_a, 5);
	Shoal__Envelope c = SHOAL__ENVELOPE__INIT;
	c.msg_case = SHOAL__ENVELOPE__MSG_HELLO;
	c.hello = &bad;
	size_t nc;
	uint8_t *pc = pack_raw(&c.base, &nc);
	memcpy(both, pa, na);
	memcpy(both + na, pc, nc);
	assert_int_equal(decode_counted(both, na + nc), SHOAL_EPROTO);
	free(pa);
	free(pb);
	free(pc);
}

static void test_payload_len_rules(void **state)
{
	(void)state;
	Shoal__Envelope env = SHOAL__ENVELOPE__INIT;
	Shoal__Ping ping = SHOAL__PING__INIT;
	Shoal__GetChunk get = SHOAL__GET_CHUNK__INIT;
	Shoal__Chunk chunk = SHOAL__CHUNK__INIT;

	/* Nothing but Chunk carries a payload. */
	env.msg_case = SHOAL__ENVELOPE__MSG_PING;
	env.ping = &ping;
	env.payload_len = 1;
	envelope_rejected(&env);
	get.id = bin(id_a, WIRE_ID_LEN);
	env.msg_case = SHOAL__ENVELOPE__MSG_GET_CHUNK;
	env.get_chunk = &get;
	env.payload_len = 32;
	envelope_rejected(&env);

	/* A Chunk's payload is WIRE_CHUNK_MIN..OBJECT_SIZE_MAX bytes. */
	chunk.id = bin(id_a, WIRE_ID_LEN);
	env.msg_case = SHOAL__ENVELOPE__MSG_CHUNK;
	env.chunk = &chunk;
	env.payload_len = 0;
	envelope_rejected(&env);
	env.payload_len = WIRE_CHUNK_MIN - 1;
	envelope_rejected(&env);
	env.payload_len = OBJECT_SIZE_MAX + 1;
	envelope_rejected(&env);
	env.payload_len = UINT32_MAX;
	size_t n;
	uint8_t *p = pack_raw(&env.base, &n);
	assert_int_equal(decode_counted(p, n), SHOAL_EPROTO);
	free(p);
}

static void test_hello_rules(void **state)
{
	(void)state;
	Shoal__Envelope env = SHOAL__ENVELOPE__INIT;
	Shoal__Hello hello = SHOAL__HELLO__INIT;
	env.msg_case = SHOAL__ENVELOPE__MSG_HELLO;
	env.hello = &hello;
	hello.version = 1;
	hello.listen_addr = "a:1";

	hello.node_id = bin(NULL, 0);
	envelope_rejected(&env);
	hello.node_id = bin(id_a, WIRE_ID_LEN - 1);
	envelope_rejected(&env);
	hello.node_id = bin(id_long, WIRE_ID_LEN + 1);
	envelope_rejected(&env);

	hello.node_id = bin(id_a, WIRE_ID_LEN);
	const char *bad_addrs[] = {"nocolon", ":7400", "host:",	  "host:65536", "host:99999",
				   "a b:1",   "a,b:1", "host:1x", "[::1:1",	"\x7f:1"};
	for (size_t i = 0; i < sizeof(bad_addrs) / sizeof(bad_addrs[0]); i++) {
		hello.listen_addr = (char *)bad_addrs[i];
		envelope_rejected(&env);
	}
	char long_addr[ADDR_MAX + 1];
	memset(long_addr, 'h', sizeof(long_addr));
	memcpy(long_addr + ADDR_MAX - 5, ":80", 4);
	hello.listen_addr = long_addr; /* ADDR_MAX - 2 bytes: fine */
	envelope_round_trip(&env, 0);
	memcpy(long_addr + ADDR_MAX - 3, ":80", 4);
	hello.listen_addr = long_addr; /* ADDR_MAX bytes: too long */
	envelope_rejected(&env);
}

static void test_peers_rules(void **state)
{
	(void)state;
	struct member_set *set = calloc(1, sizeof(*set));
	assert_non_null(set);
	Shoal__Envelope env = SHOAL__ENVELOPE__INIT;
	Shoal__Peers peers = SHOAL__PEERS__INIT;
	env.msg_case = SHOAL__ENVELOPE__MSG_PEERS;
	env.peers = &peers;
	make_members(set->members, set->ptrs, set->ids, set->addrs, WIRE_MEMBERS_MAX + 1, 12);
	peers.members = set->ptrs;

	peers.n_members = WIRE_MEMBERS_MAX + 1;
	envelope_rejected(&env);

	peers.n_members = 3;
	Shoal__Member *m = &set->members[2];
	m->node_id = bin(id_a, WIRE_ID_LEN - 1);
	envelope_rejected(&env);
	m->node_id = bin(NULL, 0);
	envelope_rejected(&env);
	m->node_id = bin(id_a, WIRE_ID_LEN);
	m->addr = "";
	envelope_rejected(&env);
	m->addr = "host:port";
	envelope_rejected(&env);
	m->addr = "host:1";
	m->last_seen = -1;
	envelope_rejected(&env);
	m->last_seen = INT64_MIN;
	envelope_rejected(&env);
	m->last_seen = 0;
	envelope_round_trip(&env, 0);
	free(set);
}

static void test_chunk_id_rules(void **state)
{
	(void)state;
	Shoal__Envelope env = SHOAL__ENVELOPE__INIT;
	Shoal__GetChunk get = SHOAL__GET_CHUNK__INIT;
	Shoal__Chunk chunk = SHOAL__CHUNK__INIT;

	env.msg_case = SHOAL__ENVELOPE__MSG_GET_CHUNK;
	env.get_chunk = &get;
	get.id = bin(NULL, 0);
	envelope_rejected(&env);
	get.id = bin(id_a, WIRE_ID_LEN - 1);
	envelope_rejected(&env);
	get.id = bin(id_long, WIRE_ID_LEN + 1);
	envelope_rejected(&env);

	env.msg_case = SHOAL__ENVELOPE__MSG_CHUNK;
	env.chunk = &chunk;
	env.payload_len = 100;
	chunk.id = bin(NULL, 0);
	envelope_rejected(&env);
	chunk.id = bin(id_long, WIRE_ID_LEN + 1);
	envelope_rejected(&env);
	chunk.id = bin(id_a, 1);
	envelope_rejected(&env);
}

/* FolderHello: a 16-byte folder id with a have list, or a probe (no folder
 * id, no have); the proof is 32 bytes either way. */
static void test_folder_hello_rules(void **state)
{
	(void)state;
	Shoal__Envelope env = SHOAL__ENVELOPE__INIT;
	Shoal__FolderHello h = SHOAL__FOLDER_HELLO__INIT;
	Shoal__FolderHave have = SHOAL__FOLDER_HAVE__INIT;
	Shoal__FolderHave *haves[] = {&have};
	static const uint8_t fid[WIRE_FOLDER_ID_LEN] = {7};
	env.msg_case = SHOAL__ENVELOPE__MSG_FOLDER_HELLO;
	env.folder_hello = &h;
	have.author = bin(id_a, WIRE_ID_LEN);
	h.proof = bin(id_a, WIRE_ID_LEN);
	h.folder_id = bin(fid, WIRE_FOLDER_ID_LEN);
	h.have = haves;
	h.n_have = 1;
	envelope_round_trip(&env, 0);
	/* A probe. */
	h.folder_id = bin(NULL, 0);
	h.n_have = 0;
	envelope_round_trip(&env, 0);
	/* A probe saying what it holds, a short id, a short proof. */
	h.n_have = 1;
	envelope_rejected(&env);
	h.folder_id = bin(fid, WIRE_FOLDER_ID_LEN - 1);
	envelope_rejected(&env);
	h.folder_id = bin(NULL, 0);
	h.n_have = 0;
	h.proof = bin(id_a, WIRE_ID_LEN - 1);
	envelope_rejected(&env);
}

/* Fetch and FetchDone: ids of the right length, a name empty or valid. */
static void test_fetch_rules(void **state)
{
	(void)state;
	Shoal__Envelope env = SHOAL__ENVELOPE__INIT;
	Shoal__Fetch fetch = SHOAL__FETCH__INIT;
	Shoal__FetchDone done = SHOAL__FETCH_DONE__INIT;
	env.msg_case = SHOAL__ENVELOPE__MSG_FETCH;
	env.fetch = &fetch;
	env.request_id = 4;
	fetch.manifest_id = bin(id_a, WIRE_ID_LEN);
	fetch.key = bin(id_a, WIRE_ID_LEN);
	envelope_round_trip(&env, 0);
	fetch.name = "q3 report (from alpha)";
	envelope_round_trip(&env, 0);
	static char *const bad[] = {"a/b", "..", " lead", "tab\there"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		fetch.name = bad[i];
		envelope_rejected(&env);
	}
	fetch.name = "ok";
	fetch.key = bin(id_a, WIRE_ID_LEN - 1);
	envelope_rejected(&env);

	env.msg_case = SHOAL__ENVELOPE__MSG_FETCH_DONE;
	env.fetch_done = &done;
	done.chunks = 3;
	done.fetched = 3;
	envelope_round_trip(&env, 0);
	done.name = "report (from alpha) 2";
	envelope_round_trip(&env, 0);
	done.name = "a/b";
	envelope_rejected(&env);
	done.name = "";
	done.fetched = 4;
	envelope_rejected(&env);
}

static void test_error_rules(void **state)
{
	(void)state;
	char text[WIRE_TEXT_MAX + 2];
	Shoal__Envelope env = SHOAL__ENVELOPE__INIT;
	Shoal__Error error = SHOAL__ERROR__INIT;
	env.msg_case = SHOAL__ENVELOPE__MSG_ERROR;
	env.error = &error;
	memset(text, 'y', WIRE_TEXT_MAX + 1);
	text[WIRE_TEXT_MAX + 1] = '\0';
	error.text = text;
	envelope_rejected(&env);
}

/*
 * Unknown fields are skipped, but field number 0 is refused even where
 * protobuf-c lets it through (in an overlong tag), at any depth.
 */
static void test_unknown_fields(void **state)
{
	(void)state;
	/* Ping { nonce: 1 } with an unknown varint field 99 in the Envelope and in the Ping. */
	static const uint8_t unknown_ok[] = {0x98, 0x06, 0x01, 0x5a, 0x05,
					     0x08, 0x01, 0x98, 0x06, 0x02};
	/* The same with field 0 as fixed32 behind the overlong tag 0x85 0x00. */
	static const uint8_t field0_top[] = {0x5a, 0x00, 0x85, 0x00, 0x01, 0x02, 0x03, 0x04};
	static const uint8_t field0_nested[] = {0x5a, 0x06, 0x85, 0x00, 0x01, 0x02, 0x03, 0x04};
	/* ls {} with the field 0 at the top, and inside put {}. */
	static const uint8_t ctl_field0[] = {0x72, 0x00, 0x85, 0x00, 0x72, 0x00, 0x72, 0x00};
	uint8_t copy[16];

	memcpy(copy, unknown_ok, sizeof(unknown_ok));
	assert_int_equal(decode_counted(copy, sizeof(unknown_ok)), 0);
	memcpy(copy, field0_top, sizeof(field0_top));
	assert_int_equal(decode_counted(copy, sizeof(field0_top)), SHOAL_EPROTO);
	memcpy(copy, field0_nested, sizeof(field0_nested));
	assert_int_equal(decode_counted(copy, sizeof(field0_nested)), SHOAL_EPROTO);

	Shoal__CtlRequest *req = NULL;
	memcpy(copy, ctl_field0, sizeof(ctl_field0));
	assert_int_equal(wire_ctl_request_decode(copy, sizeof(ctl_field0), &req), SHOAL_EPROTO);
	/* protobuf-c alone accepts it: the check is ours. */
	req = shoal__ctl_request__unpack(NULL, sizeof(ctl_field0), copy);
	assert_non_null(req);
	shoal__ctl_request__free_unpacked(req, NULL);
	Shoal__CtlReply *rep = NULL;
	/* capability "" then field 0 inside verify {}. */
	static const uint8_t reply_field0[] = {0x72, 0x06, 0x85, 0x00, 0x01, 0x02, 0x03, 0x04};
	memcpy(copy, reply_field0, sizeof(reply_field0));
	assert_int_equal(wire_ctl_reply_decode(copy, sizeof(reply_field0), &rep), SHOAL_EPROTO);
}

/* Hand-made bytes that are not Envelopes. */
static void test_garbage_rejected(void **state)
{
	(void)state;
	static const struct {
		const char *what;
		const char *bytes;
		size_t len;
	} garbage[] = {
		{"zero tag", "\x00", 1},
		{"all ones", "\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff", 12},
		{"wire type 7", "\x0f\x01", 2},
		{"group start", "\x0b\x0c", 2},
		{"varint never ends", "\x08\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80", 12},
		{"length past end", "\x5a\x05\x08\x01", 4},
		{"huge length", "\x5a\xff\xff\xff\xff\x0f", 6},
		{"hello with bytes cut", "\x52\x04\x12\x20\x00\x00", 6},
		{"ping as wrong wire type", "\x5d\x00\x00\x00\x00", 5},
		{"text", "hello, world", 12},
		{"only request id", "\x08\x07", 2},
	};
	for (size_t i = 0; i < sizeof(garbage) / sizeof(garbage[0]); i++) {
		Shoal__Envelope *out = NULL;
		uint8_t *copy = malloc(garbage[i].len);
		assert_non_null(copy);
		memcpy(copy, garbage[i].bytes, garbage[i].len);
		if (wire_decode(copy, garbage[i].len, NULL, &out) != SHOAL_EPROTO)
			fail_msg("garbage accepted: %s", garbage[i].what);
		assert_int_equal(decode_counted(copy, garbage[i].len), SHOAL_EPROTO);
		free(copy);
	}
	/* Longer than a frame header can be. */
	uint8_t *big = calloc(1, FRAME_HEADER_MAX + 1);
	assert_non_null(big);
	Shoal__Envelope *out = NULL;
	assert_int_equal(wire_decode(big, FRAME_HEADER_MAX + 1, NULL, &out), SHOAL_EPROTO);
	free(big);
}

/* Envelopes of every type, packed, for the truncation and mutation tests. */
static size_t sample_envelopes(uint8_t **out, size_t *lens, size_t max)
{
	static struct member_set set;
	Shoal__Envelope env[8];
	Shoal__Hello hello = SHOAL__HELLO__INIT;
	Shoal__Ping ping = SHOAL__PING__INIT;
	Shoal__Pong pong = SHOAL__PONG__INIT;
	Shoal__Peers peers = SHOAL__PEERS__INIT;
	Shoal__GetChunk get = SHOAL__GET_CHUNK__INIT;
	Shoal__Chunk chunk = SHOAL__CHUNK__INIT;
	Shoal__Error error = SHOAL__ERROR__INIT;
	size_t n = 0;

	for (size_t i = 0; i < 8; i++)
		shoal__envelope__init(&env[i]);
	hello.version = 1;
	hello.node_id = bin(id_a, WIRE_ID_LEN);
	hello.listen_addr = "10.0.0.1:7400";
	env[n].msg_case = SHOAL__ENVELOPE__MSG_HELLO;
	env[n++].hello = &hello;
	ping.nonce = 77;
	env[n].request_id = 3;
	env[n].msg_case = SHOAL__ENVELOPE__MSG_PING;
	env[n++].ping = &ping;
	env[n].msg_case = SHOAL__ENVELOPE__MSG_PONG;
	env[n++].pong = &pong;
	make_members(set.members, set.ptrs, set.ids, set.addrs, 3, 14);
	peers.members = set.ptrs;
	peers.n_members = 3;
	env[n].msg_case = SHOAL__ENVELOPE__MSG_PEERS;
	env[n++].peers = &peers;
	get.id = bin(id_b, WIRE_ID_LEN);
	env[n].request_id = 1ull << 40;
	env[n].msg_case = SHOAL__ENVELOPE__MSG_GET_CHUNK;
	env[n++].get_chunk = &get;
	chunk.id = bin(id_b, WIRE_ID_LEN);
	env[n].payload_len = 1 << 20;
	env[n].msg_case = SHOAL__ENVELOPE__MSG_CHUNK;
	env[n++].chunk = &chunk;
	error.code = SHOAL__ERROR__CODE__TOO_BUSY;
	error.text = "busy";
	env[n].msg_case = SHOAL__ENVELOPE__MSG_ERROR;
	env[n++].error = &error;
	assert_true(n <= max);
	for (size_t i = 0; i < n; i++) {
		out[i] = pack_raw(&env[i].base, &lens[i]);
		assert_int_equal(decode_counted(out[i], lens[i]), 0);
	}
	return n;
}

/*
 * Every strict prefix of a valid Envelope is refused: the message is the last
 * field and length-delimited, so a prefix either lacks it or cuts it.
 */
static void test_truncations_rejected(void **state)
{
	(void)state;
	uint8_t *samples[8];
	size_t lens[8];
	size_t n = sample_envelopes(samples, lens, 8);
	for (size_t i = 0; i < n; i++) {
		for (size_t cut = 0; cut < lens[i]; cut++) {
			uint8_t *prefix = malloc(cut ? cut : 1);
			assert_non_null(prefix);
			memcpy(prefix, samples[i], cut);
			if (decode_counted(prefix, cut) != SHOAL_EPROTO)
				fail_msg("sample %zu cut to %zu bytes accepted", i, cut);
			free(prefix);
		}
		free(samples[i]);
	}
}

/* Random mutations: refused, or accepted and then stable across re-packing. */
static void test_mutations_stay_valid(void **state)
{
	(void)state;
	uint8_t *samples[8];
	size_t lens[8];
	size_t n = sample_envelopes(samples, lens, 8);
	uint8_t work[1024];
	size_t accepted = 0;

	for (int round = 0; round < 20000; round++) {
		size_t i = rng() % n;
		size_t len = lens[i];
		assert_true(len <= sizeof(work));
		memcpy(work, samples[i], len);
		int flips = 1 + (int)(rng() % 4);
		for (int k = 0; k < flips; k++)
			work[rng() % len] ^= (uint8_t)(1u << (rng() % 8));
		if (rng() % 4 == 0)
			len = rng() % (len + 1);
		uint8_t *input = malloc(len ? len : 1);
		assert_non_null(input);
		memcpy(input, work, len);
		Shoal__Envelope *env = NULL;
		if (wire_decode(input, len, NULL, &env) == 0) {
			accepted++;
			size_t again_len;
			uint8_t *again = pack_raw(&env->base, &again_len);
			Shoal__Envelope *env2 = NULL;
			assert_int_equal(wire_decode(again, again_len, NULL, &env2), 0);
			assert_int_equal(env2->msg_case, env->msg_case);
			assert_int_equal(env2->payload_len, env->payload_len);
			wire_free(env2, NULL);
			free(again);
			wire_free(env, NULL);
		}
		decode_counted(input, len);
		free(input);
	}
	/* Some mutations (of ids' bytes, nonces) keep the message valid. */
	assert_true(accepted > 0);
	for (size_t i = 0; i < n; i++)
		free(samples[i]);
}

/* Random bytes: never crash, never leak, and never pass invalid messages. */
static void test_random_bytes(void **state)
{
	(void)state;
	for (int round = 0; round < 20000; round++) {
		size_t len = rng() % 64;
		uint8_t *input = malloc(len ? len : 1);
		assert_non_null(input);
		for (size_t i = 0; i < len; i++)
			input[i] = (uint8_t)rng();
		decode_counted(input, len);
		Shoal__CtlRequest *req = NULL;
		if (wire_ctl_request_decode(input, len, &req) == 0)
			shoal__ctl_request__free_unpacked(req, NULL);
		Shoal__CtlReply *rep = NULL;
		if (wire_ctl_reply_decode(input, len, &rep) == 0)
			shoal__ctl_reply__free_unpacked(rep, NULL);
		free(input);
	}
}

/* ---- control protocol ---- */

/* Packs req as a frame; its message must decode (also through a frame reader) and re-pack alike. */
static void ctl_request_round_trip(const Shoal__CtlRequest *req)
{
	struct buf out = BUF_INIT;
	assert_int_equal(wire_ctl_request_pack(req, &out), 0);
	assert_true(out.len > 4);
	uint32_t len = (uint32_t)out.data[0] << 24 | (uint32_t)out.data[1] << 16 |
		       (uint32_t)out.data[2] << 8 | out.data[3];
	assert_int_equal(len, out.len - 4);

	Shoal__CtlRequest *got = NULL;
	assert_int_equal(wire_ctl_request_decode(out.data + 4, len, &got), 0);
	assert_int_equal(got->req_case, req->req_case);
	assert_int_equal(got->request_id, req->request_id);
	size_t want_len, got_len;
	uint8_t *want = pack_raw(&req->base, &want_len);
	uint8_t *again = pack_raw(&got->base, &got_len);
	assert_int_equal(got_len, want_len);
	assert_memory_equal(again, want, want_len);
	shoal__ctl_request__free_unpacked(got, NULL);

	struct evbuffer *in = evbuffer_new();
	struct frame_reader r;
	struct frame f;
	evbuffer_add(in, out.data, out.len);
	frame_reader_init(&r, wire_ctl_request_frame_decode, wire_ctl_request_frame_free, NULL, 0);
	assert_int_equal(frame_reader_next(&r, in, &f), 1);
	assert_int_equal(f.payload_len, 0);
	assert_null(f.payload);
	assert_int_equal(((Shoal__CtlRequest *)f.msg)->req_case, req->req_case);
	frame_msg_free(&r, f.msg);
	frame_reader_release(&r);
	evbuffer_free(in);

	/* Every strict prefix is refused (the request is the last field). */
	for (size_t cut = 0; cut < len; cut++) {
		uint8_t *prefix = malloc(cut ? cut : 1);
		assert_non_null(prefix);
		memcpy(prefix, out.data + 4, cut);
		got = NULL;
		if (wire_ctl_request_decode(prefix, cut, &got) != SHOAL_EPROTO)
			fail_msg("request cut to %zu bytes accepted", cut);
		free(prefix);
	}
	free(want);
	free(again);
	buf_release(&out);
}

/* req breaks a rule: not packed (out unchanged), and its bytes not decoded. */
static void ctl_request_rejected(const Shoal__CtlRequest *req)
{
	struct buf out = BUF_INIT;
	buf_addstr(&out, "keep");
	assert_int_equal(wire_ctl_request_pack(req, &out), SHOAL_EPROTO);
	assert_int_equal(out.len, 4);
	assert_memory_equal(out.data, "keep", 4);
	buf_release(&out);

	size_t n;
	uint8_t *p = pack_raw(&req->base, &n);
	Shoal__CtlRequest *got = (Shoal__CtlRequest *)&n;
	assert_int_equal(wire_ctl_request_decode(p, n, &got), SHOAL_EPROTO);
	assert_ptr_equal(got, (Shoal__CtlRequest *)&n);
	free(p);
}

static void test_ctl_request_round_trip(void **state)
{
	(void)state;
	Shoal__CtlRequest req = SHOAL__CTL_REQUEST__INIT;
	Shoal__CtlStatusRequest status = SHOAL__CTL_STATUS_REQUEST__INIT;
	Shoal__CtlPeersRequest peers = SHOAL__CTL_PEERS_REQUEST__INIT;
	Shoal__CtlPutRequest put = SHOAL__CTL_PUT_REQUEST__INIT;
	Shoal__CtlGetRequest get = SHOAL__CTL_GET_REQUEST__INIT;
	Shoal__CtlLsRequest ls = SHOAL__CTL_LS_REQUEST__INIT;
	Shoal__CtlRmRequest rm = SHOAL__CTL_RM_REQUEST__INIT;
	Shoal__CtlVerifyRequest verify = SHOAL__CTL_VERIFY_REQUEST__INIT;
	char long_path[WIRE_PATH_MAX + 1];

	req.request_id = 1;
	req.req_case = SHOAL__CTL_REQUEST__REQ_STATUS;
	req.status = &status;
	ctl_request_round_trip(&req);
	req.req_case = SHOAL__CTL_REQUEST__REQ_PEERS;
	req.peers = &peers;
	ctl_request_round_trip(&req);
	req.req_case = SHOAL__CTL_REQUEST__REQ_LS;
	req.ls = &ls;
	ctl_request_round_trip(&req);
	req.req_case = SHOAL__CTL_REQUEST__REQ_VERIFY;
	req.verify = &verify;
	ctl_request_round_trip(&req);

	req.request_id = UINT64_MAX;
	req.req_case = SHOAL__CTL_REQUEST__REQ_PUT;
	req.put = &put;
	put.path = "/home/me/photo.jpg";
	put.name = "photo.jpg";
	ctl_request_round_trip(&req);
	put.path = "/";
	put.name = "caf\xc3\xa9 menu";
	ctl_request_round_trip(&req);
	memset(long_path, 'p', WIRE_PATH_MAX);
	long_path[0] = '/';
	long_path[WIRE_PATH_MAX] = '\0';
	put.path = long_path;
	ctl_request_round_trip(&req);

	req.req_case = SHOAL__CTL_REQUEST__REQ_GET;
	req.get = &get;
	get.target = "photo.jpg";
	get.out_path = "/tmp/out";
	ctl_request_round_trip(&req);
	get.target = long_path;
	get.out_path = long_path;
	ctl_request_round_trip(&req);

	req.req_case = SHOAL__CTL_REQUEST__REQ_RM;
	req.rm = &rm;
	rm.name = "old.txt";
	ctl_request_round_trip(&req);
}

static void test_ctl_request_rules(void **state)
{
	(void)state;
	Shoal__CtlRequest req = SHOAL__CTL_REQUEST__INIT;
	Shoal__CtlPutRequest put = SHOAL__CTL_PUT_REQUEST__INIT;
	Shoal__CtlGetRequest get = SHOAL__CTL_GET_REQUEST__INIT;
	Shoal__CtlRmRequest rm = SHOAL__CTL_RM_REQUEST__INIT;
	char long_path[WIRE_PATH_MAX + 2];
	char long_name[NAME_MAX_LEN + 2];

	memset(long_path, 'p', WIRE_PATH_MAX + 1);
	long_path[0] = '/';
	long_path[WIRE_PATH_MAX + 1] = '\0';
	memset(long_name, 'n', NAME_MAX_LEN + 1);
	long_name[NAME_MAX_LEN + 1] = '\0';

	/* No request at all. */
	req.request_id = 4;
	ctl_request_rejected(&req);
	Shoal__CtlRequest *got = NULL;
	assert_int_equal(wire_ctl_request_decode((const uint8_t *)"", 0, &got), SHOAL_EPROTO);

	req.req_case = SHOAL__CTL_REQUEST__REQ_PUT;
	req.put = &put;
	put.name = "ok";
	const char *bad_paths[] = {"", "relative/file", "./x", long_path};
	for (size_t i = 0; i < sizeof(bad_paths) / sizeof(bad_paths[0]); i++) {
		put.path = (char *)bad_paths[i];
		ctl_request_rejected(&req);
	}
	put.path = "/file";
	const char *bad_names[] = {"",	     ".",	  "..",	      "a/b",	" lead",
				   "trail ", "tab\there", "\xff\xfe", long_name};
	for (size_t i = 0; i < sizeof(bad_names) / sizeof(bad_names[0]); i++) {
		put.name = (char *)bad_names[i];
		ctl_request_rejected(&req);
	}

	req.req_case = SHOAL__CTL_REQUEST__REQ_GET;
	req.get = &get;
	get.target = "";
	get.out_path = "/out";
	ctl_request_rejected(&req);
	get.target = long_path;
	ctl_request_rejected(&req);
	get.target = "name";
	get.out_path = "out";
	ctl_request_rejected(&req);
	get.out_path = "";
	ctl_request_rejected(&req);
	get.out_path = long_path;
	ctl_request_rejected(&req);

	req.req_case = SHOAL__CTL_REQUEST__REQ_RM;
	req.rm = &rm;
	for (size_t i = 0; i < sizeof(bad_names) / sizeof(bad_names[0]); i++) {
		rm.name = (char *)bad_names[i];
		ctl_request_rejected(&req);
	}
}

/* Packs rep; it must decode and re-pack to the same bytes. */
static void ctl_reply_round_trip(const Shoal__CtlReply *rep)
{
	struct buf out = BUF_INIT;
	assert_int_equal(wire_ctl_reply_pack(rep, &out), 0);
	assert_true(out.len > 4);
	uint32_t len = (uint32_t)out.data[0] << 24 | (uint32_t)out.data[1] << 16 |
		       (uint32_t)out.data[2] << 8 | out.data[3];
	assert_int_equal(len, out.len - 4);
	Shoal__CtlReply *got = NULL;
	assert_int_equal(wire_ctl_reply_decode(out.data + 4, len, &got), 0);
	assert_int_equal(got->reply_case, rep->reply_case);
	assert_int_equal(got->request_id, rep->request_id);
	assert_int_equal(got->err, rep->err);
	size_t want_len, got_len;
	uint8_t *want = pack_raw(&rep->base, &want_len);
	uint8_t *again = pack_raw(&got->base, &got_len);
	assert_int_equal(got_len, want_len);
	assert_memory_equal(again, want, want_len);
	shoal__ctl_reply__free_unpacked(got, NULL);
	free(want);
	free(again);
	buf_release(&out);
}

static void ctl_reply_rejected(const Shoal__CtlReply *rep)
{
	struct buf out = BUF_INIT;
	assert_int_equal(wire_ctl_reply_pack(rep, &out), SHOAL_EPROTO);
	assert_int_equal(out.len, 0);
	buf_release(&out);

	size_t n;
	uint8_t *p = pack_raw(&rep->base, &n);
	Shoal__CtlReply *got = NULL;
	assert_int_equal(wire_ctl_reply_decode(p, n, &got), SHOAL_EPROTO);
	assert_null(got);
	free(p);
}

static void test_ctl_reply_round_trip(void **state)
{
	(void)state;
	Shoal__CtlReply rep = SHOAL__CTL_REPLY__INIT;
	Shoal__CtlStatus status = SHOAL__CTL_STATUS__INIT;
	Shoal__CtlPeersReply peers = SHOAL__CTL_PEERS_REPLY__INIT;
	Shoal__CtlPeer peer[2] = {SHOAL__CTL_PEER__INIT, SHOAL__CTL_PEER__INIT};
	Shoal__CtlPeer *peer_ptrs[2] = {&peer[0], &peer[1]};
	Shoal__CtlNames names = SHOAL__CTL_NAMES__INIT;
	Shoal__CtlName name = SHOAL__CTL_NAME__INIT;
	Shoal__CtlName *name_ptrs[1] = {&name};
	Shoal__CtlVerify verify = SHOAL__CTL_VERIFY__INIT;
	Shoal__CtlBadChunk bad = SHOAL__CTL_BAD_CHUNK__INIT;
	Shoal__CtlBadChunk *bad_ptrs[1] = {&bad};
	Shoal__CtlProgress progress = SHOAL__CTL_PROGRESS__INIT;
	char text[WIRE_CTL_TEXT_MAX + 1];

	/* A bare reply (rm's success, or an error) has no body. */
	rep.request_id = 7;
	ctl_reply_round_trip(&rep);
	rep.err = SHOAL_ENOTFOUND;
	memset(text, 't', WIRE_CTL_TEXT_MAX);
	text[WIRE_CTL_TEXT_MAX] = '\0';
	rep.text = text;
	rep.failed_chunk = bin(id_a, WIRE_ID_LEN);
	ctl_reply_round_trip(&rep);
	rep.err = 0;
	rep.text = "";
	rep.failed_chunk = bin(NULL, 0);

	status.node_id = bin(id_a, WIRE_ID_LEN);
	status.listen_addr = "0.0.0.0:7400";
	status.peers_up = 3;
	status.chunks = 1000;
	status.bytes = 1ull << 40;
	rep.reply_case = SHOAL__CTL_REPLY__REPLY_STATUS;
	rep.status = &status;
	ctl_reply_round_trip(&rep);

	peer[0].node_id = bin(id_a, WIRE_ID_LEN);
	peer[0].addr = "a:1";
	peer[0].up = 1;
	peer[0].rtt_us = 250;
	peer[1].node_id = bin(id_b, WIRE_ID_LEN);
	peer[1].last_seen = 1700000000;
	peers.peers = peer_ptrs;
	peers.n_peers = 2;
	rep.reply_case = SHOAL__CTL_REPLY__REPLY_PEERS;
	rep.peers = &peers;
	ctl_reply_round_trip(&rep);
	peers.n_peers = 0;
	ctl_reply_round_trip(&rep);

	rep.reply_case = SHOAL__CTL_REPLY__REPLY_CAPABILITY;
	rep.capability = "shoal:abc:def";
	ctl_reply_round_trip(&rep);

	name.name = "photo.jpg";
	name.size = 123456;
	name.capability = "shoal:x:y";
	name.created = 1700000000;
	names.names = name_ptrs;
	names.n_names = 1;
	rep.reply_case = SHOAL__CTL_REPLY__REPLY_NAMES;
	rep.names = &names;
	ctl_reply_round_trip(&rep);

	bad.id = bin(id_b, WIRE_ID_LEN);
	bad.err = SHOAL_ECORRUPT;
	verify.checked = 10;
	verify.corrupt = 1;
	verify.bad = bad_ptrs;
	verify.n_bad = 1;
	rep.reply_case = SHOAL__CTL_REPLY__REPLY_VERIFY;
	rep.verify = &verify;
	ctl_reply_round_trip(&rep);

	progress.done = 5;
	progress.total = 10;
	rep.reply_case = SHOAL__CTL_REPLY__REPLY_PROGRESS;
	rep.progress = &progress;
	ctl_reply_round_trip(&rep);
}

static void test_ctl_reply_rules(void **state)
{
	(void)state;
	Shoal__CtlReply rep = SHOAL__CTL_REPLY__INIT;
	Shoal__CtlStatus status = SHOAL__CTL_STATUS__INIT;
	Shoal__CtlPeersReply peers = SHOAL__CTL_PEERS_REPLY__INIT;
	Shoal__CtlPeer peer = SHOAL__CTL_PEER__INIT;
	Shoal__CtlPeer *peer_ptrs[1] = {&peer};
	Shoal__CtlVerify verify = SHOAL__CTL_VERIFY__INIT;
	Shoal__CtlBadChunk bad = SHOAL__CTL_BAD_CHUNK__INIT;
	Shoal__CtlBadChunk *bad_ptrs[1] = {&bad};
	char text[WIRE_CTL_TEXT_MAX + 2];

	rep.request_id = 1;
	memset(text, 't', WIRE_CTL_TEXT_MAX + 1);
	text[WIRE_CTL_TEXT_MAX + 1] = '\0';
	rep.text = text;
	ctl_reply_rejected(&rep);
	rep.text = "";
	rep.failed_chunk = bin(id_a, WIRE_ID_LEN - 1);
	ctl_reply_rejected(&rep);
	rep.failed_chunk = bin(id_long, WIRE_ID_LEN + 1);
	ctl_reply_rejected(&rep);
	rep.failed_chunk = bin(NULL, 0);

	rep.reply_case = SHOAL__CTL_REPLY__REPLY_STATUS;
	rep.status = &status;
	status.node_id = bin(id_a, 16);
	ctl_reply_rejected(&rep);
	status.node_id = bin(NULL, 0);
	ctl_reply_rejected(&rep);

	rep.reply_case = SHOAL__CTL_REPLY__REPLY_PEERS;
	rep.peers = &peers;
	peers.peers = peer_ptrs;
	peers.n_peers = 1;
	peer.node_id = bin(id_long, WIRE_ID_LEN + 1);
	ctl_reply_rejected(&rep);

	rep.reply_case = SHOAL__CTL_REPLY__REPLY_VERIFY;
	rep.verify = &verify;
	verify.bad = bad_ptrs;
	verify.n_bad = 1;
	bad.id = bin(id_a, 3);
	ctl_reply_rejected(&rep);

	/* All fields at their defaults pack to nothing, which no frame carries. */
	Shoal__CtlReply empty = SHOAL__CTL_REPLY__INIT;
	struct buf out = BUF_INIT;
	assert_int_equal(wire_ctl_reply_pack(&empty, &out), SHOAL_EPROTO);
	assert_int_equal(out.len, 0);
	buf_release(&out);
	/* ...but an empty message decodes (it is a valid, bare reply). */
	Shoal__CtlReply *got = NULL;
	assert_int_equal(wire_ctl_reply_decode((const uint8_t *)"", 0, &got), 0);
	shoal__ctl_reply__free_unpacked(got, NULL);
}

/* Lists of WIRE_CTL_LIST_MAX entries pass, one more does not. */
static void test_ctl_reply_list_limits(void **state)
{
	(void)state;
	const size_t n = WIRE_CTL_LIST_MAX + 1;
	Shoal__CtlReply rep = SHOAL__CTL_REPLY__INIT;
	Shoal__CtlPeersReply peers = SHOAL__CTL_PEERS_REPLY__INIT;
	Shoal__CtlNames names = SHOAL__CTL_NAMES__INIT;
	Shoal__CtlVerify verify = SHOAL__CTL_VERIFY__INIT;
	Shoal__CtlPeer *peer = calloc(n, sizeof(*peer));
	Shoal__CtlPeer **peer_ptrs = calloc(n, sizeof(*peer_ptrs));
	Shoal__CtlName *name = calloc(n, sizeof(*name));
	Shoal__CtlName **name_ptrs = calloc(n, sizeof(*name_ptrs));
	Shoal__CtlBadChunk *bad = calloc(n, sizeof(*bad));
	Shoal__CtlBadChunk **bad_ptrs = calloc(n, sizeof(*bad_ptrs));
	assert_true(peer && peer_ptrs && name && name_ptrs && bad && bad_ptrs);
	for (size_t i = 0; i < n; i++) {
		shoal__ctl_peer__init(&peer[i]);
		peer[i].node_id = bin(id_a, WIRE_ID_LEN);
		peer_ptrs[i] = &peer[i];
		shoal__ctl_name__init(&name[i]);
		name[i].name = "n";
		name_ptrs[i] = &name[i];
		shoal__ctl_bad_chunk__init(&bad[i]);
		bad[i].id = bin(id_b, WIRE_ID_LEN);
		bad_ptrs[i] = &bad[i];
	}
	rep.request_id = 1;
	peers.peers = peer_ptrs;
	names.names = name_ptrs;
	verify.bad = bad_ptrs;

	rep.reply_case = SHOAL__CTL_REPLY__REPLY_PEERS;
	rep.peers = &peers;
	peers.n_peers = n - 1;
	ctl_reply_round_trip(&rep);
	peers.n_peers = n;
	ctl_reply_rejected(&rep);

	rep.reply_case = SHOAL__CTL_REPLY__REPLY_NAMES;
	rep.names = &names;
	names.n_names = n - 1;
	ctl_reply_round_trip(&rep);
	names.n_names = n;
	ctl_reply_rejected(&rep);

	rep.reply_case = SHOAL__CTL_REPLY__REPLY_VERIFY;
	rep.verify = &verify;
	verify.n_bad = n - 1;
	ctl_reply_round_trip(&rep);
	verify.n_bad = n;
	ctl_reply_rejected(&rep);

	/* Longer than any reply may be: refused before protobuf-c sees it. */
	uint8_t *big = malloc(WIRE_CTL_REPLY_MAX + 1);
	assert_non_null(big);
	Shoal__CtlReply *got = NULL;
	assert_int_equal(wire_ctl_reply_decode(big, WIRE_CTL_REPLY_MAX + 1, &got), SHOAL_EPROTO);
	free(big);

	free(peer);
	free(peer_ptrs);
	free(name);
	free(name_ptrs);
	free(bad);
	free(bad_ptrs);
}

/* Control garbage: malformed protobuf, and strict prefixes cutting a reply's body. */
static void test_ctl_garbage_rejected(void **state)
{
	(void)state;
	static const struct {
		const char *bytes;
		size_t len;
	} garbage[] = {
		{"\x00", 1},	     {"\xff\xff\xff\xff", 4},
		{"\x0f\x01", 2},     {"\x62\x05\x0a\x01", 4},
		{"\x08\x80\x80", 3},
	};
	for (size_t i = 0; i < sizeof(garbage) / sizeof(garbage[0]); i++) {
		uint8_t *copy = malloc(garbage[i].len);
		assert_non_null(copy);
		memcpy(copy, garbage[i].bytes, garbage[i].len);
		Shoal__CtlRequest *req = NULL;
		Shoal__CtlReply *rep = NULL;
		assert_int_equal(wire_ctl_request_decode(copy, garbage[i].len, &req), SHOAL_EPROTO);
		assert_int_equal(wire_ctl_reply_decode(copy, garbage[i].len, &rep), SHOAL_EPROTO);
		free(copy);
	}

	Shoal__CtlReply rep = SHOAL__CTL_REPLY__INIT;
	Shoal__CtlStatus status = SHOAL__CTL_STATUS__INIT;
	status.node_id = bin(id_a, WIRE_ID_LEN);
	rep.request_id = 300;
	rep.reply_case = SHOAL__CTL_REPLY__REPLY_STATUS;
	rep.status = &status;
	size_t n;
	uint8_t *p = pack_raw(&rep.base, &n);
	/* request_id takes 3 bytes, then the status field: cutting inside it fails. */
	for (size_t cut = 4; cut < n; cut++) {
		Shoal__CtlReply *got = NULL;
		uint8_t *prefix = malloc(cut);
		assert_non_null(prefix);
		memcpy(prefix, p, cut);
		if (wire_ctl_reply_decode(prefix, cut, &got) != SHOAL_EPROTO)
			fail_msg("reply cut to %zu of %zu bytes accepted", cut, n);
		free(prefix);
	}
	free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hello_round_trip),
		cmocka_unit_test(test_ping_pong_round_trip),
		cmocka_unit_test(test_peers_round_trip),
		cmocka_unit_test(test_peers_too_big_for_frame),
		cmocka_unit_test(test_chunk_round_trip),
		cmocka_unit_test(test_error_round_trip),
		cmocka_unit_test(test_envelope_needs_a_message),
		cmocka_unit_test(test_envelope_two_messages_last_wins),
		cmocka_unit_test(test_payload_len_rules),
		cmocka_unit_test(test_hello_rules),
		cmocka_unit_test(test_peers_rules),
		cmocka_unit_test(test_chunk_id_rules),
		cmocka_unit_test(test_folder_hello_rules),
		cmocka_unit_test(test_error_rules),
		cmocka_unit_test(test_fetch_rules),
		cmocka_unit_test(test_unknown_fields),
		cmocka_unit_test(test_garbage_rejected),
		cmocka_unit_test(test_truncations_rejected),
		cmocka_unit_test(test_mutations_stay_valid),
		cmocka_unit_test(test_random_bytes),
		cmocka_unit_test(test_ctl_request_round_trip),
		cmocka_unit_test(test_ctl_request_rules),
		cmocka_unit_test(test_ctl_reply_round_trip),
		cmocka_unit_test(test_ctl_reply_rules),
		cmocka_unit_test(test_ctl_reply_list_limits),
		cmocka_unit_test(test_ctl_garbage_rejected),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
