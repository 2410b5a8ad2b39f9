/*
 * libFuzzer harness for the message decoders of src/net/wire.h, which parse
 * the first bytes any peer or control client sends. Each input is decoded as
 * an Envelope (wire_decode), a CtlRequest and a CtlReply. Whatever decodes
 * must pass its own packer's checks, re-pack, decode again and re-pack to the
 * same bytes; what fails must leave nothing allocated. protobuf-c allocates
 * through a counting allocator whose total (every byte ever requested, freed
 * or not) must stay under a small multiple of the input size (see
 * ALLOC_PER_BYTE). A broken property aborts. With fuzz/replay.c the same file
 * replays the committed corpus in normal builds.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "net/frame.h"
#include "net/wire.h"
#include "util/buf.h"
#include "util/error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * The bound on what protobuf-c may allocate, in total, to unpack n bytes:
 * ALLOC_PER_BYTE * n + ALLOC_SLACK. It cannot be the 8 * n we would like:
 * protobuf-c materialises every field before our limits are looked at, and a
 * 2-byte field holding an empty submessage ("members {}", or "hello {}" again
 * and again, each replacing the last) costs the submessage's struct, an
 * 8-byte pointer when repeated, and a 32-byte scan record in slabs that
 * double as they fill (at worst 64 bytes per field). Per 2 input bytes:
 * Envelope 64 + 64 (Hello) or 56 + 8 + 64 (Member), so 64 x n; CtlRequest
 * 48 + 64 (Put), 56 x n; CtlReply 72 + 64 (CtlStatus) or 64 + 8 + 64
 * (CtlPeer), 68 x n; CtlStatus grew to 136 bytes with the health counters, then to 144 with the
 * candidates and dials: (144 + 64) / 2 = 104 x n, bounded at 108; then to 184 with the nickname,
 * certificate expiry, revoked count, repair time and drain flag: (184 + 64) / 2 = 124 x n, bounded
 * at 128. CtlPutRequest, CtlGetRequest and CtlPruneRequest grew to 56 bytes (full, version,
 * the keep rules): (56 + 64) / 2 = 60 x n for CtlRequest, bounded at 64. Measured with
 * protobuf-c 1.4.1 on
 * x86-64: 64.0 x n for a 64 KiB Peers of empty members (4 MiB, freed as soon as validation refuses
 * it), 56.0 x n for repeated empty Puts, 68.0 x n for empty CtlPeers; libFuzzer found nothing
 * above. The slack covers the fixed cost of short inputs (an empty Hello: 112 bytes for 2).
 */
#define ENVELOPE_ALLOC_PER_BYTE	   64
#define CTL_REQUEST_ALLOC_PER_BYTE 64
#define CTL_REPLY_ALLOC_PER_BYTE   128
#define ALLOC_SLACK		   4096

struct counting {
	ProtobufCAllocator a;
	size_t total; /* bytes ever requested */
	size_t live;  /* bytes not yet freed */
	size_t limit; /* abort past this total */
	const char *what;
};

/* Each block carries its size in front, so that frees can be counted. */
#define BLOCK_HEAD 16

static void *counting_alloc(void *ctx, size_t n)
{
	struct counting *c = ctx;
	c->total += n;
	c->live += n;
	if (c->total > c->limit) {
		fprintf(stderr, "fuzz_envelope: %s allocated %zu bytes, over the bound %zu\n",
			c->what, c->total, c->limit);
		abort();
	}
	uint8_t *block = malloc(BLOCK_HEAD + n);
	if (!block)
		return NULL;
	memcpy(block, &n, sizeof(n));
	return block + BLOCK_HEAD;
}

static void counting_free(void *ctx, void *p)
{
	struct counting *c = ctx;
	size_t n;
	if (!p)
		return;
	uint8_t *block = (uint8_t *)p - BLOCK_HEAD;
	memcpy(&n, block, sizeof(n));
	c->live -= n;
	free(block);
}

static void counting_init(struct counting *c, const char *what, size_t per_byte, size_t size)
{
	c->a.alloc = counting_alloc;
	c->a.free = counting_free;
	c->a.allocator_data = c;
	c->total = c->live = 0;
	c->limit = per_byte * size + ALLOC_SLACK;
	c->what = what;
}

static void fail(const char *what, int err)
{
	fprintf(stderr, "fuzz_envelope: %s (%d: %s)\n", what, err, shoal_strerror(err));
	abort();
}

/* Packs m into a new heap block; *n its length. */
static uint8_t *pack(const ProtobufCMessage *m, size_t *n)
{
	*n = protobuf_c_message_get_packed_size(m);
	uint8_t *p = malloc(*n ? *n : 1);
	if (!p || protobuf_c_message_pack(m, p) != *n)
		fail("protobuf_c_message_pack", 0);
	return p;
}

static void check_same(const uint8_t *a, size_t na, const uint8_t *b, size_t nb, const char *what)
{
	if (na != nb || memcmp(a, b, na) != 0)
		fail(what, 0);
}

static void check_envelope(const uint8_t *data, size_t size)
{
	struct counting c;
	Shoal__Envelope *env = NULL, *again = NULL;
	static const uint8_t zeros[4096];

	counting_init(&c, "wire_decode", ENVELOPE_ALLOC_PER_BYTE, size);
	int err = wire_decode(data, size, &c.a, &env);
	if (err) {
		if (err != SHOAL_EPROTO || env)
			fail("wire_decode failed badly", err);
		if (c.live)
			fail("wire_decode leaked on failure", 0);
		return;
	}
	/* A decoded Envelope is one a node may send. */
	size_t n1, n2;
	uint8_t *p1 = pack(&env->base, &n1);
	struct evbuffer *out = evbuffer_new();
	if (!out)
		fail("evbuffer_new", 0);
	if (env->payload_len <= sizeof(zeros)) {
		err = wire_send(out, env, env->payload_len ? zeros : NULL, env->payload_len);
		/* Canonical re-packing can grow (a negative enum sent short takes 10 bytes). */
		if (err && !(err == SHOAL_ETOOBIG && n1 > FRAME_HEADER_MAX))
			fail("wire_send refused a decoded Envelope", err);
		if (!err && evbuffer_get_length(out) != 4 + n1 + env->payload_len)
			fail("wire_send wrote an unexpected frame", 0);
	}
	evbuffer_free(out);
	if (n1 <= FRAME_HEADER_MAX) {
		err = wire_decode(p1, n1, NULL, &again);
		if (err)
			fail("wire_decode refused a re-packed Envelope", err);
		uint8_t *p2 = pack(&again->base, &n2);
		check_same(p1, n1, p2, n2, "Envelope changed across pack and decode");
		free(p2);
		wire_free(again, NULL);
	}
	free(p1);
	wire_free(env, &c.a);
	if (c.live)
		fail("wire_free left memory allocated", 0);
}

static void check_ctl_request(const uint8_t *data, size_t size)
{
	struct counting c;
	struct buf b = BUF_INIT;
	Shoal__CtlRequest *req = NULL, *again = NULL;

	/* The bound, measured on protobuf-c itself (wire_ctl_request_decode uses malloc). */
	counting_init(&c, "CtlRequest unpack", CTL_REQUEST_ALLOC_PER_BYTE, size);
	req = shoal__ctl_request__unpack(&c.a, size, data);
	if (req)
		shoal__ctl_request__free_unpacked(req, &c.a);
	if (c.live)
		fail("CtlRequest unpack leaked", 0);

	req = NULL;
	int err = wire_ctl_request_decode(data, size, &req);
	if (err) {
		if (err != SHOAL_EPROTO || req)
			fail("wire_ctl_request_decode failed badly", err);
		return;
	}
	err = wire_ctl_request_pack(req, &b);
	if (err && !(err == SHOAL_ETOOBIG &&
		     protobuf_c_message_get_packed_size(&req->base) > FRAME_HEADER_MAX))
		fail("wire_ctl_request_pack refused a decoded request", err);
	if (!err) {
		err = wire_ctl_request_decode(b.data + 4, b.len - 4, &again);
		if (err)
			fail("wire_ctl_request_decode refused a re-packed request", err);
		struct buf b2 = BUF_INIT;
		if (wire_ctl_request_pack(again, &b2))
			fail("wire_ctl_request_pack refused a round-tripped request", 0);
		check_same(b.data, b.len, b2.data, b2.len,
			   "CtlRequest changed across pack and decode");
		buf_release(&b2);
		shoal__ctl_request__free_unpacked(again, NULL);
	}
	buf_release(&b);
	shoal__ctl_request__free_unpacked(req, NULL);
}

static void check_ctl_reply(const uint8_t *data, size_t size)
{
	struct counting c;
	struct buf b = BUF_INIT;
	Shoal__CtlReply *rep = NULL, *again = NULL;

	counting_init(&c, "CtlReply unpack", CTL_REPLY_ALLOC_PER_BYTE, size);
	rep = shoal__ctl_reply__unpack(&c.a, size, data);
	if (rep)
		shoal__ctl_reply__free_unpacked(rep, &c.a);
	if (c.live)
		fail("CtlReply unpack leaked", 0);

	rep = NULL;
	int err = wire_ctl_reply_decode(data, size, &rep);
	if (err) {
		if (err != SHOAL_EPROTO || rep)
			fail("wire_ctl_reply_decode failed badly", err);
		return;
	}
	err = wire_ctl_reply_pack(rep, &b);
	/* Only a reply with every field at its default packs to nothing and is refused. */
	if (err && !(err == SHOAL_EPROTO && protobuf_c_message_get_packed_size(&rep->base) == 0))
		fail("wire_ctl_reply_pack refused a decoded reply", err);
	if (!err) {
		err = wire_ctl_reply_decode(b.data + 4, b.len - 4, &again);
		if (err)
			fail("wire_ctl_reply_decode refused a re-packed reply", err);
		struct buf b2 = BUF_INIT;
		if (wire_ctl_reply_pack(again, &b2))
			fail("wire_ctl_reply_pack refused a round-tripped reply", 0);
		check_same(b.data, b.len, b2.data, b2.len,
			   "CtlReply changed across pack and decode");
		buf_release(&b2);
		shoal__ctl_reply__free_unpacked(again, NULL);
	}
	buf_release(&b);
	shoal__ctl_reply__free_unpacked(rep, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_envelope(data, size);
	check_ctl_request(data, size);
	check_ctl_reply(data, size);
	return 0;
}
