/*
 * The frame reassembler and writer; see frame.h. The reader is a two-state
 * machine: without a pending header it waits for the 4 length bytes, checks
 * them, waits for the whole header and decodes it in place (the evbuffer is
 * made contiguous over at most 4 + FRAME_HEADER_MAX bytes); with a pending
 * header it waits until the whole payload is buffered and then copies it out
 * once, into a page-aligned block.
 */
#include "net/frame.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"

#define LEN_BYTES 4

void frame_reader_init(struct frame_reader *r, frame_decode_fn decode, frame_free_fn free_msg,
		       void *arg, size_t max_payload)
{
	memset(r, 0, sizeof(*r));
	r->decode = decode;
	r->free_msg = free_msg;
	r->arg = arg;
	/* A header names its payload in 32 bits: a larger cap means nothing. */
	r->max_payload = max_payload > UINT32_MAX ? UINT32_MAX : max_payload;
}

void frame_reader_release(struct frame_reader *r)
{
	if (r->pending)
		r->free_msg(r->pending, r->arg);
	r->pending = NULL;
	r->pending_len = 0;
}

void frame_msg_free(struct frame_reader *r, void *msg)
{
	if (msg)
		r->free_msg(msg, r->arg);
}

/*
 * Decodes the next header out of in into r->pending. Returns 1 when a header
 * was taken, 0 when it has not fully arrived, or a negative code.
 */
static int take_header(struct frame_reader *r, struct evbuffer *in)
{
	uint8_t len_bytes[LEN_BYTES];
	void *msg = NULL;
	uint32_t payload_len = 0;
	int err;

	if (evbuffer_get_length(in) < LEN_BYTES)
		return 0;
	if (evbuffer_copyout(in, len_bytes, LEN_BYTES) != LEN_BYTES)
		return SHOAL_EPROTO;
	size_t n = (size_t)len_bytes[0] << 24 | (size_t)len_bytes[1] << 16 |
		   (size_t)len_bytes[2] << 8 | (size_t)len_bytes[3];
	/* The announced length is checked before it sizes anything. */
	if (n == 0 || n > FRAME_HEADER_MAX)
		return SHOAL_EPROTO;
	if (evbuffer_get_length(in) < LEN_BYTES + n)
		return 0;
	/* Contiguous header bytes: libevent copies at most 4 + 64 KiB to get them. */
	const uint8_t *p = evbuffer_pullup(in, (ev_ssize_t)(LEN_BYTES + n));
	if (!p)
		return -ENOMEM;
	err = r->decode(p + LEN_BYTES, n, &msg, &payload_len, r->arg);
	if (err)
		return err < 0 ? err : SHOAL_EPROTO;
	if (evbuffer_drain(in, LEN_BYTES + n) != 0) {
		r->free_msg(msg, r->arg);
		return -ENOMEM;
	}
	if (payload_len > r->max_payload) {
		r->free_msg(msg, r->arg);
		return SHOAL_EPROTO;
	}
	r->pending = msg;
	r->pending_len = payload_len;
	return 1;
}

int frame_reader_next(struct frame_reader *r, struct evbuffer *in, struct frame *f)
{
	uint8_t *payload = NULL;
	int err;

	if (r->err)
		return r->err;
	if (!r->pending) {
		err = take_header(r, in);
		if (err <= 0)
			goto out;
	}
	size_t len = r->pending_len;
	if (len > 0) {
		/* Nothing is allocated for a payload that has not fully arrived. */
		if (evbuffer_get_length(in) < len) {
			err = 0;
			goto out;
		}
		size_t cap = (len + FRAME_PAYLOAD_ALIGN - 1) & ~(FRAME_PAYLOAD_ALIGN - 1);
		void *block = NULL;
		if (posix_memalign(&block, FRAME_PAYLOAD_ALIGN, cap) != 0) {
			err = -ENOMEM;
			goto out;
		}
		payload = block;
		if (evbuffer_copyout(in, payload, len) != (ev_ssize_t)len ||
		    evbuffer_drain(in, len) != 0) {
			free(payload);
			err = SHOAL_EPROTO;
			goto out;
		}
		/* Direct I/O writes whole blocks: no stale heap bytes in the tail. */
		memset(payload + len, 0, cap - len);
	}
	f->msg = r->pending;
	f->payload = payload;
	f->payload_len = len;
	r->pending = NULL;
	r->pending_len = 0;
	err = 1;
out:
	/* Running out of memory is not the peer's fault; anything else ends the stream. */
	if (err < 0 && err != -ENOMEM)
		r->err = err;
	return err;
}

int frame_write(struct evbuffer *out, const uint8_t *hdr, size_t hdr_len, const void *payload,
		size_t n)
{
	uint8_t len_bytes[LEN_BYTES];

	if (hdr_len == 0 || hdr_len > FRAME_HEADER_MAX || n > UINT32_MAX)
		return SHOAL_ETOOBIG;
	len_bytes[0] = (uint8_t)(hdr_len >> 24);
	len_bytes[1] = (uint8_t)(hdr_len >> 16);
	len_bytes[2] = (uint8_t)(hdr_len >> 8);
	len_bytes[3] = (uint8_t)hdr_len;
	/* Room for the whole frame first, so that no half frame is ever left in out. */
	if (evbuffer_expand(out, LEN_BYTES + hdr_len + n) != 0)
		return -ENOMEM;
	if (evbuffer_add(out, len_bytes, LEN_BYTES) != 0 || evbuffer_add(out, hdr, hdr_len) != 0 ||
	    (n > 0 && evbuffer_add(out, payload, n) != 0))
		return -ENOMEM;
	return 0;
}

static void free_payload(const void *data, size_t len, void *arg)
{
	(void)len;
	(void)arg;
	free((void *)data);
}

int frame_write_owned(struct evbuffer *out, const uint8_t *hdr, size_t hdr_len, void *payload,
		      size_t n)
{
	return frame_write_ref(out, hdr, hdr_len, payload, n, free_payload, NULL);
}

int frame_write_ref(struct evbuffer *out, const uint8_t *hdr, size_t hdr_len, const void *payload,
		    size_t n, frame_cleanup_fn cleanup, void *arg)
{
	if (n == 0) {
		cleanup(payload, 0, arg);
		return frame_write(out, hdr, hdr_len, NULL, 0);
	}
	struct evbuffer *frame = evbuffer_new();
	int err = frame ? frame_write(frame, hdr, hdr_len, NULL, 0) : -ENOMEM;
	if (!err && evbuffer_add_reference(frame, payload, n, cleanup, arg) != 0)
		err = -ENOMEM;
	else if (!err)
		payload = NULL; /* the buffer owns it now */
	/* Moving chains between buffers copies nothing, and is all or nothing. */
	if (!err && evbuffer_add_buffer(out, frame) != 0)
		err = -ENOMEM;
	if (frame)
		evbuffer_free(frame);
	if (payload)
		cleanup(payload, n, arg);
	return err;
}
