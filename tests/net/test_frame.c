/*
 * Tests for src/net/frame.c: the frame reassembler and writer, with a toy
 * header format so that framing is tested apart from protobuf (the header's
 * first 4 bytes are its payload length, big-endian; a first byte of 0xEE makes
 * the decoder fail). A stream of frames must come out whole and in order
 * however it is split; bad lengths (0, over FRAME_HEADER_MAX, 0xFFFFFFFF) are
 * refused before the decoder runs or anything past the length is consumed;
 * payloads over the cap are refused; a payload is neither taken nor allocated
 * before all of it has arrived; payload blocks are page-aligned and zero past
 * the end; errors are sticky; frame_write round-trips and refuses bad sizes.
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

#include "net/frame.h"
#include "util/error.h"

#define TEST_DECODE_ERR (-4242)

/* Counts the toy decoder's work, to check what the reader did. */
struct counts {
	int decoded;
	int freed;
};

/* A decoded toy header: a copy of its bytes. */
struct toy_msg {
	size_t len;
	uint8_t bytes[];
};

static int toy_decode(const uint8_t *p, size_t n, void **msg, uint32_t *payload_len, void *arg)
{
	struct counts *c = arg;
	c->decoded++;
	if (n < 4 || p[0] == 0xEE)
		return TEST_DECODE_ERR;
	struct toy_msg *m = malloc(sizeof(*m) + n);
	assert_non_null(m);
	m->len = n;
	memcpy(m->bytes, p, n);
	*msg = m;
	*payload_len = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
	return 0;
}

static void toy_free(void *msg, void *arg)
{
	struct counts *c = arg;
	if (msg)
		c->freed++;
	free(msg);
}

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* A frame to send: a toy header of hdr_len bytes naming payload_len. */
struct spec {
	size_t hdr_len;
	size_t payload_len;
	uint8_t seed;
};

static void fill(uint8_t *p, size_t n, uint8_t seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(seed * 31 + i * 7 + (i >> 8));
}

/* Builds a toy header (first 4 bytes: payload length, then filler; never 0xEE first). */
static uint8_t *make_header(const struct spec *s)
{
	uint8_t *hdr = malloc(s->hdr_len);
	assert_non_null(hdr);
	fill(hdr, s->hdr_len, s->seed);
	put_be32(hdr, (uint32_t)s->payload_len);
	return hdr;
}

static uint8_t *make_payload(const struct spec *s)
{
	uint8_t *payload = malloc(s->payload_len ? s->payload_len : 1);
	assert_non_null(payload);
	fill(payload, s->payload_len, (uint8_t)(s->seed + 101));
	return payload;
}

/* Appends the frames of specs to out with frame_write(). */
static void write_frames(struct evbuffer *out, const struct spec *specs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint8_t *hdr = make_header(&specs[i]);
		uint8_t *payload = make_payload(&specs[i]);
		assert_int_equal(frame_write(out, hdr, specs[i].hdr_len,
					     specs[i].payload_len ? payload : NULL,
					     specs[i].payload_len),
				 0);
		free(hdr);
		free(payload);
	}
}

/* Checks one frame against its spec, including the payload block's shape, and frees it. */
static void check_frame(struct frame_reader *r, struct frame *f, const struct spec *s)
{
	struct toy_msg *m = f->msg;
	uint8_t *hdr = make_header(s);
	uint8_t *payload = make_payload(s);

	assert_non_null(m);
	assert_int_equal(m->len, s->hdr_len);
	assert_memory_equal(m->bytes, hdr, s->hdr_len);
	assert_int_equal(f->payload_len, s->payload_len);
	if (s->payload_len == 0) {
		assert_null(f->payload);
	} else {
		assert_non_null(f->payload);
		assert_int_equal((uintptr_t)f->payload % FRAME_PAYLOAD_ALIGN, 0);
		assert_memory_equal(f->payload, payload, s->payload_len);
		/* The block is whole pages, zero past the payload. */
		size_t cap = (s->payload_len + FRAME_PAYLOAD_ALIGN - 1) / FRAME_PAYLOAD_ALIGN *
			     FRAME_PAYLOAD_ALIGN;
		for (size_t i = s->payload_len; i < cap; i++)
			assert_int_equal(f->payload[i], 0);
	}
	frame_msg_free(r, f->msg);
	free(f->payload);
	free(hdr);
	free(payload);
}

/* Takes every complete frame out of in, checking each against specs[*next...]. */
static void drain_frames(struct frame_reader *r, struct evbuffer *in, const struct spec *specs,
			 size_t n, size_t *next)
{
	struct frame f;
	int rc;
	while ((rc = frame_reader_next(r, in, &f)) == 1) {
		assert_true(*next < n);
		check_frame(r, &f, &specs[*next]);
		(*next)++;
	}
	assert_int_equal(rc, 0);
}

static const struct spec stream_specs[] = {
	{4, 0, 1}, {9, 5000, 2}, {4, 1, 3}, {300, 4096, 4}, {5, 0, 5}, {6, 4097, 6},
};
#define NSTREAM (sizeof(stream_specs) / sizeof(stream_specs[0]))

/* Every split of the stream into two reads gives the same frames. */
static void test_split_at_every_boundary(void **state)
{
	(void)state;
	struct evbuffer *whole = evbuffer_new();
	assert_non_null(whole);
	write_frames(whole, stream_specs, NSTREAM);
	size_t total = evbuffer_get_length(whole);
	uint8_t *bytes = malloc(total);
	assert_non_null(bytes);
	assert_int_equal(evbuffer_remove(whole, bytes, total), (int)total);

	for (size_t cut = 0; cut <= total; cut++) {
		struct counts c = {0};
		struct frame_reader r;
		struct evbuffer *in = evbuffer_new();
		size_t next = 0;
		frame_reader_init(&r, toy_decode, toy_free, &c, 1 << 20);
		evbuffer_add(in, bytes, cut);
		drain_frames(&r, in, stream_specs, NSTREAM, &next);
		evbuffer_add(in, bytes + cut, total - cut);
		drain_frames(&r, in, stream_specs, NSTREAM, &next);
		assert_int_equal(next, NSTREAM);
		assert_int_equal(evbuffer_get_length(in), 0);
		assert_int_equal(c.decoded, (int)NSTREAM);
		assert_int_equal(c.freed, (int)NSTREAM);
		frame_reader_release(&r);
		evbuffer_free(in);
	}
	free(bytes);
	evbuffer_free(whole);
}

/* One byte at a time: every boundary at once, and each header decoded exactly once. */
static void test_byte_by_byte(void **state)
{
	(void)state;
	struct evbuffer *whole = evbuffer_new();
	write_frames(whole, stream_specs, NSTREAM);
	size_t total = evbuffer_get_length(whole);
	uint8_t *bytes = malloc(total);
	assert_non_null(bytes);
	assert_int_equal(evbuffer_remove(whole, bytes, total), (int)total);

	struct counts c = {0};
	struct frame_reader r;
	struct evbuffer *in = evbuffer_new();
	size_t next = 0;
	frame_reader_init(&r, toy_decode, toy_free, &c, 1 << 20);
	for (size_t i = 0; i < total; i++) {
		evbuffer_add(in, bytes + i, 1);
		drain_frames(&r, in, stream_specs, NSTREAM, &next);
	}
	assert_int_equal(next, NSTREAM);
	assert_int_equal(c.decoded, (int)NSTREAM);
	frame_reader_release(&r);
	evbuffer_free(in);
	free(bytes);
	evbuffer_free(whole);
}

/* Many frames in one buffer come out in order. */
static void test_many_frames_one_buffer(void **state)
{
	(void)state;
	enum { N = 1000 };
	struct spec *specs = calloc(N, sizeof(*specs));
	assert_non_null(specs);
	for (size_t i = 0; i < N; i++) {
		specs[i].hdr_len = 4 + i % 37;
		specs[i].payload_len = (i * 131) % 700;
		specs[i].seed = (uint8_t)i;
	}
	struct counts c = {0};
	struct frame_reader r;
	struct evbuffer *in = evbuffer_new();
	size_t next = 0;
	write_frames(in, specs, N);
	frame_reader_init(&r, toy_decode, toy_free, &c, 1 << 20);
	drain_frames(&r, in, specs, N, &next);
	assert_int_equal(next, N);
	assert_int_equal(evbuffer_get_length(in), 0);
	frame_reader_release(&r);
	evbuffer_free(in);
	free(specs);
}

/*
 * A stream whose length prefix is bad, followed by plenty of bytes: refused
 * with nothing decoded and at most the 4 length bytes consumed, every time.
 */
static void check_bad_length(uint32_t len)
{
	struct counts c = {0};
	struct frame_reader r;
	struct frame f = {0};
	struct evbuffer *in = evbuffer_new();
	uint8_t prefix[4];
	uint8_t filler[1024];

	put_be32(prefix, len);
	memset(filler, 0, sizeof(filler));
	evbuffer_add(in, prefix, sizeof(prefix));
	/* Enough bytes that a reader trusting a small bad length would find a "header". */
	evbuffer_add(in, filler, sizeof(filler));
	size_t before = evbuffer_get_length(in);
	frame_reader_init(&r, toy_decode, toy_free, &c, 1 << 20);
	assert_int_equal(frame_reader_next(&r, in, &f), SHOAL_EPROTO);
	assert_true(before - evbuffer_get_length(in) <= 4);
	assert_int_equal(c.decoded, 0);
	assert_null(f.msg);
	assert_null(f.payload);
	/* Unusable from now on, even when more arrives. */
	evbuffer_add(in, filler, sizeof(filler));
	assert_int_equal(frame_reader_next(&r, in, &f), SHOAL_EPROTO);
	assert_int_equal(c.decoded, 0);
	frame_reader_release(&r);
	evbuffer_free(in);
}

static void test_length_zero_rejected(void **state)
{
	(void)state;
	check_bad_length(0);
}

static void test_length_huge_rejected(void **state)
{
	(void)state;
	check_bad_length(0xFFFFFFFFu);
	check_bad_length(0x80000000u);
}

static void test_length_over_max_rejected(void **state)
{
	(void)state;
	check_bad_length((uint32_t)FRAME_HEADER_MAX + 1);
}

/* The bad length is refused as soon as its 4 bytes are in, not when more arrive. */
static void test_bad_length_seen_early(void **state)
{
	(void)state;
	struct counts c = {0};
	struct frame_reader r;
	struct frame f;
	struct evbuffer *in = evbuffer_new();
	uint8_t prefix[4];

	put_be32(prefix, 0xFFFFFFFFu);
	frame_reader_init(&r, toy_decode, toy_free, &c, 1 << 20);
	evbuffer_add(in, prefix, 3);
	assert_int_equal(frame_reader_next(&r, in, &f), 0);
	evbuffer_add(in, prefix + 3, 1);
	assert_int_equal(frame_reader_next(&r, in, &f), SHOAL_EPROTO);
	assert_int_equal(c.decoded, 0);
	frame_reader_release(&r);
	evbuffer_free(in);
}

/* A header of exactly FRAME_HEADER_MAX bytes is fine, and waits until complete. */
static void test_length_max_accepted(void **state)
{
	(void)state;
	struct spec s = {FRAME_HEADER_MAX, 10, 9};
	struct counts c = {0};
	struct frame_reader r;
	struct frame f;
	struct evbuffer *whole = evbuffer_new();
	struct evbuffer *in = evbuffer_new();

	write_frames(whole, &s, 1);
	frame_reader_init(&r, toy_decode, toy_free, &c, 1 << 20);
	/* All but the last header byte: nothing decoded, nothing consumed. */
	evbuffer_remove_buffer(whole, in, 4 + FRAME_HEADER_MAX - 1);
	assert_int_equal(frame_reader_next(&r, in, &f), 0);
	assert_int_equal(c.decoded, 0);
	assert_int_equal(evbuffer_get_length(in), 4 + FRAME_HEADER_MAX - 1);
	evbuffer_add_buffer(in, whole);
	assert_int_equal(frame_reader_next(&r, in, &f), 1);
	check_frame(&r, &f, &s);
	frame_reader_release(&r);
	evbuffer_free(in);
	evbuffer_free(whole);
}

/* A header naming more payload than the cap is refused (and freed) at once. */
static void test_payload_over_cap_rejected(void **state)
{
	(void)state;
	const size_t cap = 5000;
	struct spec over = {8, cap + 1, 1}, at = {8, cap, 2};
	struct counts c = {0};
	struct frame_reader r;
	struct frame f;
	struct evbuffer *in = evbuffer_new();

	/* The cap itself is allowed. */
	write_frames(in, &at, 1);
	frame_reader_init(&r, toy_decode, toy_free, &c, cap);
	assert_int_equal(frame_reader_next(&r, in, &f), 1);
	check_frame(&r, &f, &at);

	/* One more is not; only the header is sent, so no payload is needed to refuse it. */
	uint8_t *hdr = make_header(&over);
	uint8_t prefix[4];
	put_be32(prefix, (uint32_t)over.hdr_len);
	evbuffer_add(in, prefix, 4);
	evbuffer_add(in, hdr, over.hdr_len);
	assert_int_equal(frame_reader_next(&r, in, &f), SHOAL_EPROTO);
	assert_int_equal(c.decoded, 2);
	assert_int_equal(c.freed, 2);
	assert_int_equal(frame_reader_next(&r, in, &f), SHOAL_EPROTO);
	assert_int_equal(c.decoded, 2);
	frame_reader_release(&r);
	free(hdr);
	evbuffer_free(in);
}

/* A 0xFFFFFFFF payload length is refused without waiting for (or allocating) it. */
static void test_payload_huge_rejected(void **state)
{
	(void)state;
	struct counts c = {0};
	struct frame_reader r;
	struct frame f;
	struct evbuffer *in = evbuffer_new();
	uint8_t frame[8];

	put_be32(frame, 4);
	put_be32(frame + 4, 0xFFFFFFFFu);
	evbuffer_add(in, frame, sizeof(frame));
	frame_reader_init(&r, toy_decode, toy_free, &c, (size_t)4 * 1024 * 1024 + 16);
	assert_int_equal(frame_reader_next(&r, in, &f), SHOAL_EPROTO);
	assert_int_equal(c.freed, c.decoded);
	frame_reader_release(&r);
	evbuffer_free(in);
}

/*
 * The header is consumed when it decodes; the payload stays in the buffer
 * until the last byte arrives, and the header is not decoded twice meanwhile.
 */
static void test_payload_not_taken_until_complete(void **state)
{
	(void)state;
	struct spec s = {12, 10000, 7};
	struct counts c = {0};
	struct frame_reader r;
	struct frame f = {0};
	struct evbuffer *whole = evbuffer_new();
	struct evbuffer *in = evbuffer_new();

	write_frames(whole, &s, 1);
	frame_reader_init(&r, toy_decode, toy_free, &c, 1 << 20);
	evbuffer_remove_buffer(whole, in, 4 + s.hdr_len + s.payload_len - 1);
	for (int round = 0; round < 3; round++) {
		assert_int_equal(frame_reader_next(&r, in, &f), 0);
		assert_null(f.msg);
		assert_null(f.payload);
		assert_int_equal(c.decoded, 1);
		assert_int_equal(evbuffer_get_length(in), s.payload_len - 1);
	}
	evbuffer_add_buffer(in, whole);
	assert_int_equal(frame_reader_next(&r, in, &f), 1);
	assert_int_equal(evbuffer_get_length(in), 0);
	check_frame(&r, &f, &s);
	assert_int_equal(frame_reader_next(&r, in, &f), 0);
	frame_reader_release(&r);
	evbuffer_free(in);
	evbuffer_free(whole);
}

/* A header the decoder refuses: its error comes back, and sticks. */
static void test_decode_error_returned(void **state)
{
	(void)state;
	struct counts c = {0};
	struct frame_reader r;
	struct frame f;
	struct evbuffer *in = evbuffer_new();
	uint8_t frame[4 + 6] = {0, 0, 0, 6, 0xEE, 0, 0, 0, 0, 0};

	evbuffer_add(in, frame, sizeof(frame));
	frame_reader_init(&r, toy_decode, toy_free, &c, 1 << 20);
	assert_int_equal(frame_reader_next(&r, in, &f), TEST_DECODE_ERR);
	assert_int_equal(c.decoded, 1);
	assert_int_equal(frame_reader_next(&r, in, &f), TEST_DECODE_ERR);
	assert_int_equal(c.decoded, 1);
	frame_reader_release(&r);
	evbuffer_free(in);
}

/* Releasing a reader frees a header still waiting for its payload. */
static void test_release_frees_pending(void **state)
{
	(void)state;
	struct spec s = {4, 100, 3};
	struct counts c = {0};
	struct frame_reader r;
	struct frame f;
	struct evbuffer *in = evbuffer_new();
	uint8_t *hdr = make_header(&s);
	uint8_t prefix[4];

	put_be32(prefix, (uint32_t)s.hdr_len);
	evbuffer_add(in, prefix, 4);
	evbuffer_add(in, hdr, s.hdr_len);
	frame_reader_init(&r, toy_decode, toy_free, &c, 1 << 20);
	assert_int_equal(frame_reader_next(&r, in, &f), 0);
	assert_int_equal(c.decoded, 1);
	assert_int_equal(c.freed, 0);
	frame_reader_release(&r);
	assert_int_equal(c.freed, 1);
	frame_reader_release(&r);
	assert_int_equal(c.freed, 1);
	free(hdr);
	evbuffer_free(in);
}

/* frame_write lays out length, header and payload exactly, with or without payload. */
static void test_write_layout(void **state)
{
	(void)state;
	struct evbuffer *out = evbuffer_new();
	const uint8_t hdr[5] = {0, 0, 0, 3, 0x42};
	const uint8_t payload[3] = {7, 8, 9};
	uint8_t got[32];

	assert_int_equal(frame_write(out, hdr, sizeof(hdr), payload, sizeof(payload)), 0);
	assert_int_equal(evbuffer_get_length(out), 4 + 5 + 3);
	assert_int_equal(evbuffer_remove(out, got, sizeof(got)), 12);
	const uint8_t want[12] = {0, 0, 0, 5, 0, 0, 0, 3, 0x42, 7, 8, 9};
	assert_memory_equal(got, want, sizeof(want));

	const uint8_t empty_hdr[4] = {0, 0, 0, 0};
	assert_int_equal(frame_write(out, empty_hdr, sizeof(empty_hdr), NULL, 0), 0);
	assert_int_equal(evbuffer_remove(out, got, sizeof(got)), 8);
	const uint8_t want_empty[8] = {0, 0, 0, 4, 0, 0, 0, 0};
	assert_memory_equal(got, want_empty, sizeof(want_empty));
	evbuffer_free(out);
}

/* Round trips through frame_write and the reader, with and without payload. */
static void test_write_read_round_trip(void **state)
{
	(void)state;
	const struct spec specs[] = {
		{4, 0, 1},
		{4, 1, 2},
		{100, 4096, 3},
		{FRAME_HEADER_MAX, 0, 4},
		{4, (size_t)4 * 1024 * 1024 + 16, 5},
	};
	const size_t n = sizeof(specs) / sizeof(specs[0]);
	struct counts c = {0};
	struct frame_reader r;
	struct evbuffer *buf = evbuffer_new();
	size_t next = 0;

	write_frames(buf, specs, n);
	frame_reader_init(&r, toy_decode, toy_free, &c, (size_t)4 * 1024 * 1024 + 16);
	drain_frames(&r, buf, specs, n, &next);
	assert_int_equal(next, n);
	assert_int_equal(c.freed, (int)n);
	frame_reader_release(&r);
	evbuffer_free(buf);
}

/* frame_write refuses an empty or oversized header and leaves out untouched. */
static void test_write_rejects_bad_header(void **state)
{
	(void)state;
	struct evbuffer *out = evbuffer_new();
	uint8_t *big = calloc(1, FRAME_HEADER_MAX + 1);
	assert_non_null(big);

	assert_int_equal(frame_write(out, big, 0, NULL, 0), SHOAL_ETOOBIG);
	assert_int_equal(frame_write(out, big, FRAME_HEADER_MAX + 1, NULL, 0), SHOAL_ETOOBIG);
	assert_int_equal(frame_write(out, big, 4, big, (size_t)UINT32_MAX + 1), SHOAL_ETOOBIG);
	assert_int_equal(evbuffer_get_length(out), 0);
	assert_int_equal(frame_write(out, big, FRAME_HEADER_MAX, NULL, 0), 0);
	assert_int_equal(evbuffer_get_length(out), 4 + FRAME_HEADER_MAX);
	free(big);
	evbuffer_free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_split_at_every_boundary),
		cmocka_unit_test(test_byte_by_byte),
		cmocka_unit_test(test_many_frames_one_buffer),
		cmocka_unit_test(test_length_zero_rejected),
		cmocka_unit_test(test_length_huge_rejected),
		cmocka_unit_test(test_length_over_max_rejected),
		cmocka_unit_test(test_bad_length_seen_early),
		cmocka_unit_test(test_length_max_accepted),
		cmocka_unit_test(test_payload_over_cap_rejected),
		cmocka_unit_test(test_payload_huge_rejected),
		cmocka_unit_test(test_payload_not_taken_until_complete),
		cmocka_unit_test(test_decode_error_returned),
		cmocka_unit_test(test_release_frees_pending),
		cmocka_unit_test(test_write_layout),
		cmocka_unit_test(test_write_read_round_trip),
		cmocka_unit_test(test_write_rejects_bad_header),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
