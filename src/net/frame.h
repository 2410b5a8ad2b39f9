/*
 * Frames: how messages travel over a peer connection or the control socket. A
 * frame is a 4-byte big-endian length N (1..FRAME_HEADER_MAX), N bytes of
 * header (a protobuf message) and then P raw payload bytes, P being named by
 * the decoded header, so chunk data never goes through the protobuf decoder.
 * The reader takes frames out of a libevent evbuffer as they arrive, in any
 * pieces: it checks the length before it allocates anything, decodes the
 * header through a callback (which validates it and names P), checks P
 * against a cap and only then, once all P bytes are buffered, moves them in
 * one copy into a page-aligned block that can be written with direct I/O.
 */
#ifndef SHOAL_NET_FRAME_H
#define SHOAL_NET_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include <event2/buffer.h>

/* Largest header (the N of a frame). */
#define FRAME_HEADER_MAX ((size_t)64 * 1024)
/* Alignment and size granule of payload blocks (direct I/O). */
#define FRAME_PAYLOAD_ALIGN ((size_t)4096)

/*
 * Decodes header bytes p[0..n), borrowed for the call. On success returns 0
 * and sets *msg (owned by the caller, freed with the reader's free fn) and
 * *payload_len; on failure returns a negative code and sets neither, having
 * allocated nothing that survives the call.
 */
typedef int (*frame_decode_fn)(const uint8_t *p, size_t n, void **msg, uint32_t *payload_len,
			       void *arg);
/* Frees a message made by the matching decode fn. Must accept NULL. */
typedef void (*frame_free_fn)(void *msg, void *arg);

/* Fill with frame_reader_init(); the fields are the reader's. */
struct frame_reader {
	frame_decode_fn decode;
	frame_free_fn free_msg;
	void *arg;
	size_t max_payload;
	/* A decoded header whose payload has not fully arrived, or NULL. */
	void *pending;
	uint32_t pending_len;
	/* 0, or the error that made the reader unusable. */
	int err;
};

/* One frame handed out by frame_reader_next(). */
struct frame {
	void *msg;	    /* the decoded header */
	uint8_t *payload;   /* payload_len bytes, page-aligned; NULL when payload_len is 0 */
	size_t payload_len; /* as named by the header */
};

/*
 * Prepares r to read frames whose headers decode with decode(p, n, ..., arg)
 * and are freed with free_msg(msg, arg), and whose payloads are at most
 * max_payload bytes. Allocates nothing.
 */
void frame_reader_init(struct frame_reader *r, frame_decode_fn decode, frame_free_fn free_msg,
		       void *arg, size_t max_payload);

/*
 * Frees what r holds (a header waiting for its payload). r may be initialised
 * again afterwards. Frames already handed out are the caller's and stay valid.
 */
void frame_reader_release(struct frame_reader *r);

/*
 * Takes the next complete frame out of in. Returns:
 *  1  with *f filled: the caller owns f->msg (free with frame_msg_free()) and
 *     f->payload (allocated with posix_memalign(FRAME_PAYLOAD_ALIGN, ...),
 *     its size payload_len rounded up to a multiple of FRAME_PAYLOAD_ALIGN with
 *     the bytes past payload_len zeroed, so it can be written with direct I/O;
 *     NULL when payload_len is 0; free with free()). Call again: in may hold
 *     more frames.
 *  0  when in holds no complete frame yet (call again when more arrives); *f
 *     is not touched.
 *  SHOAL_EPROTO when the length is 0 or over FRAME_HEADER_MAX (detected before
 *     anything is allocated and before anything past the 4 length bytes is
 *     removed from in), when the header's payload_len is over max_payload, or
 *     the decode fn's own negative code when the header does not decode.
 *  -ENOMEM when no payload block could be allocated (the frame stays pending).
 * The length prefix and header are removed from in as soon as the header
 * decodes; the payload only once all of it is in in, so no payload memory is
 * allocated before its bytes have arrived. After an error other than -ENOMEM
 * the reader is unusable and returns that error again: the caller closes the
 * connection (after sending an Error frame, if it likes).
 */
int frame_reader_next(struct frame_reader *r, struct evbuffer *in, struct frame *f);

/* Frees a header returned in a struct frame by r. Accepts NULL. */
void frame_msg_free(struct frame_reader *r, void *msg);

/*
 * Appends one frame to out: the 4-byte length hdr_len, the header bytes
 * hdr[0..hdr_len) and payload[0..n) (payload may be NULL when n is 0); both
 * are copied. The header must already name n as its payload length. Appends
 * all of it or nothing. Returns 0, SHOAL_ETOOBIG if hdr_len is 0 or over
 * FRAME_HEADER_MAX or n does not fit the 32-bit payload length, or -ENOMEM.
 */
int frame_write(struct evbuffer *out, const uint8_t *hdr, size_t hdr_len, const void *payload,
		size_t n);

/*
 * Like frame_write(), but takes ownership of payload (malloc'd; freed with
 * free() once the bytes are sent, or at once on failure) and queues it by
 * reference instead of copying it: bulk chunk data then goes from its buffer
 * to the TLS layer without an extra copy. The frame is added whole or not at
 * all.
 */
/* Called once the bytes of a frame_write_ref() payload are no longer needed. */
typedef void (*frame_cleanup_fn)(const void *data, size_t len, void *arg);
/* Like frame_write_owned(), but the payload stays the caller's: cleanup(payload,
 * n, arg) is called exactly once, when the bytes are sent or dropped with the
 * buffer (on the thread that drains it), or at once on failure. */
int frame_write_ref(struct evbuffer *out, const uint8_t *hdr, size_t hdr_len, const void *payload,
		    size_t n, frame_cleanup_fn cleanup, void *arg);
int frame_write_owned(struct evbuffer *out, const uint8_t *hdr, size_t hdr_len, void *payload,
		      size_t n);

#endif
