/*
 * libFuzzer harness for the frame reassembler (src/net/frame.h) with the peer
 * decoder (wire_frame_decode), the path every byte a peer sends takes. The
 * input also decides how the stream arrives: its first byte k (low 4 bits)
 * says how many split sizes follow, each byte s of them a read of s + 1
 * bytes, used in turn (k = 0: the stream arrives at once); the rest is the
 * stream. After each read the harness takes frames until the reader wants
 * more, checks each frame against its header (payload length, page-aligned
 * zero-padded block, NULL for no payload) and frees it; it stops at the first
 * error, which must then stick. Nothing may leak and the reader may never
 * consume more than it was given. With fuzz/replay.c the same file replays
 * the committed corpus in normal builds.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "net/frame.h"
#include "net/wire.h"
#include "proto/manifest.h"
#include "util/error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fail(const char *what, int err)
{
	fprintf(stderr, "fuzz_frame: %s (%d: %s)\n", what, err, shoal_strerror(err));
	abort();
}

static void check_frame(const struct frame *f)
{
	const Shoal__Envelope *env = f->msg;
	if (!env || env->payload_len != f->payload_len)
		fail("frame does not match its header", 0);
	if (f->payload_len == 0) {
		if (f->payload)
			fail("payload block for an empty payload", 0);
		return;
	}
	if (!f->payload || (uintptr_t)f->payload % FRAME_PAYLOAD_ALIGN)
		fail("payload block missing or not aligned", 0);
	size_t cap = (f->payload_len + FRAME_PAYLOAD_ALIGN - 1) / FRAME_PAYLOAD_ALIGN *
		     FRAME_PAYLOAD_ALIGN;
	for (size_t i = f->payload_len; i < cap; i++) {
		if (f->payload[i])
			fail("payload block not zeroed past the payload", 0);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct frame_reader r;
	struct evbuffer *in;
	const uint8_t *splits;
	size_t nsplits, fed = 0, taken = 0, piece = 0;

	if (size == 0)
		return 0;
	nsplits = data[0] & 0x0f;
	if (size < 1 + nsplits)
		return 0;
	splits = data + 1;
	data += 1 + nsplits;
	size -= 1 + nsplits;

	in = evbuffer_new();
	if (!in)
		fail("evbuffer_new", 0);
	frame_reader_init(&r, wire_frame_decode, wire_frame_free, NULL, OBJECT_SIZE_MAX);
	int err = 0;
	while (fed < size && !err) {
		size_t n = nsplits ? (size_t)splits[piece++ % nsplits] + 1 : size;
		if (n > size - fed)
			n = size - fed;
		evbuffer_add(in, data + fed, n);
		fed += n;
		for (;;) {
			struct frame f;
			size_t before = evbuffer_get_length(in);
			int rc = frame_reader_next(&r, in, &f);
			size_t after = evbuffer_get_length(in);
			if (after > before)
				fail("the reader added bytes", 0);
			taken += before - after;
			if (rc == 0)
				break;
			if (rc < 0) {
				/* Refused: the reader must stay refused. */
				if (frame_reader_next(&r, in, &f) != rc)
					fail("error did not stick", rc);
				err = rc;
				break;
			}
			if (rc != 1)
				fail("frame_reader_next returned an unknown value", rc);
			check_frame(&f);
			frame_msg_free(&r, f.msg);
			free(f.payload);
		}
	}
	if (taken > fed)
		fail("the reader consumed more than it was given", 0);
	frame_reader_release(&r);
	evbuffer_free(in);
	return 0;
}
